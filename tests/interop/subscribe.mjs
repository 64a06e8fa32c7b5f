// graphql-ws's createClient against the demo's WebSocket door, the way a page's script uses it:
// examples/countdown.mjs itself, the README's browser-style client.
// Usage: node subscribe.mjs <url> <same-origin|cross-site> [query]
// Prints one JSON object: the Origin sent, the events' results in order, and the refusal
// (null, or the protocol's errors with their codes, or the close that ended the connection).
import { register } from "node:module";
import WebSocket from "ws";

const [url, origins, query] = process.argv.slice(2);
const address = new URL(url);
// A browser always sends its page's Origin. Node has no global WebSocket before 22, and no
// browser API lets a script choose that header; `ws` does, so this plays the page:
// same-origin, a page the demo serves (its scheme, host and port: the demo accepts it, for
// the Origin names the handshake's Host); cross-site, a page of another site, which the demo
// refuses before the upgrade as it is not in `websocket_origins`.
const origin = origins === "cross-site" ? "https://evil.example" : address.origin;
class PageWebSocket extends WebSocket {
  constructor(target, protocols) {
    super(target, protocols, { origin });
  }
}
address.protocol = address.protocol === "https:" ? "wss:" : "ws:";

// The example imports "graphql-ws" as a page's bundler resolves it; node looks for it from
// examples/, so it is resolved from this folder's node_modules (pinned by package-lock.json).
const here = JSON.stringify(import.meta.url);
const hooks = `export async function resolve(specifier, context, next) {
  return next(specifier, specifier === "graphql-ws" ? { ...context, parentURL: ${here} } : context);
}`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
const { countdown } = await import("../../examples/countdown.mjs");

const events = [];
let closed = null; // how the connection closed, as the page's `closed` listener sees it
let onClosed;
const closing = new Promise((resolve) => (onClosed = resolve));
const refusal = (error) => {
  if (Array.isArray(error)) {
    return { codes: error.map((e) => e.extensions?.code ?? null), errors: error };
  }
  if (typeof error?.code === "number") {
    return { close: { code: error.code, reason: error.reason } };
  }
  // The socket's error event: what `ws` says of it (a page's Event says nothing more).
  return { event: error?.type ?? null, message: String(error?.message ?? error) };
};
const timeout = setTimeout(() => finish({ timeout: "no end after 20 s" }), 20_000);
function finish(error) {
  clearTimeout(timeout);
  console.log(JSON.stringify({ origin, events, error, closed }));
  process.exit(0);
}
let error = null;
try {
  await countdown(address.href, {
    ...(query ? { query } : {}),
    onResult: (result) => events.push(result),
    webSocketImpl: PageWebSocket,
    on: {
      closed: (event) => {
        closed = { code: event.code, reason: event.reason };
        onClosed();
      },
    },
  });
} catch (thrown) {
  error = refusal(thrown);
}
// The connection's close follows the subscription's end (after an error event, at once).
await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 2_000))]);
finish(error);
