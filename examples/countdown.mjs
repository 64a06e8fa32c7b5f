// The demo's subscription from a page's script, with graphql-ws's createClient (the client
// browsers use; "graphql-ws" resolved by the page's bundler or import map):
//
//   import { countdown } from "./countdown.mjs";
//   const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/graphql`;
//   await countdown(url, { onResult: ({ data }) => console.log(data.countdown) }); // 3, 2, 1
//
// The browser sends its page's Origin with the handshake, and the demo accepts only its own
// origin (the handshake's Host) and those in `websocket_origins`: a page the demo serves
// subscribes; a page of another site is refused before the upgrade (HTTP 403, which a page
// sees only as a close with code 1006).
//
// tests/interop/subscribe.mjs runs this file against the demo (make interop).
import { createClient } from "graphql-ws";

export const COUNTDOWN = "subscription { countdown(start: 3) }";

/** Subscribes to `query` and calls `onResult` with each event's result, in order. Resolves
 *  when the server completes it; rejects with the refusal: the protocol's errors (each with
 *  `extensions.code`), or the CloseEvent of a connection that ended without one. */
export async function countdown(url, { query = COUNTDOWN, onResult, webSocketImpl, on } = {}) {
  const client = createClient({ url, webSocketImpl, on, retryAttempts: 0 });
  try {
    for await (const result of client.iterate({ query })) onResult(result);
  } finally {
    await client.dispose();
  }
}
