// Apollo Client 4 against the demo. Usage: node apollo.mjs <url> <apq-post|apq-get|safelist> [manifest]
// Prints one JSON object: the HTTP requests the client sent and the data it got.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { generatePersistedQueryIdsFromManifest } from "@apollo/persisted-query-lists";

const [url, scenario, manifestPath] = process.argv.slice(2);
const requests = [];
const recordingFetch = async (input, init) => {
  const response = await fetch(input, init);
  const text = await response.clone().text();
  requests.push({
    method: init?.method ?? "GET",
    url: String(input),
    body: init?.body ? JSON.parse(init.body) : null,
    status: response.status,
    cacheControl: response.headers.get("cache-control"),
    response: JSON.parse(text),
  });
  return response;
};
const sha256 = (text) => createHash("sha256").update(text).digest("hex");
const http = new HttpLink({ uri: url, fetch: recordingFetch });
const persisted =
  scenario === "safelist"
    ? new PersistedQueryLink(
        generatePersistedQueryIdsFromManifest({
          loadManifest: () => JSON.parse(readFileSync(manifestPath, "utf8")),
        }),
      )
    : new PersistedQueryLink({ sha256, useGETForHashedQueries: scenario === "apq-get" });
const client = new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });

const results = [];
if (scenario === "safelist") {
  const UserProfile = gql(readFileSync(new URL("../../persisted_queries/UserProfile.graphql", import.meta.url), "utf8") +
    readFileSync(new URL("../../persisted_queries/fragments/UserSummary.graphql", import.meta.url), "utf8") +
    readFileSync(new URL("../../persisted_queries/fragments/PostSummary.graphql", import.meta.url), "utf8"));
  for (let round = 0; round < 2; round++) {
    const { data } = await client.query({ query: UserProfile, variables: { id: "1" } });
    results.push(data);
  }
} else {
  const query = gql`query RecentTitles($limit: Int!) { posts(limit: $limit) { id title } }`;
  for (let round = 0; round < 2; round++) {
    const { data } = await client.query({ query, variables: { limit: 2 }, fetchPolicy: "network-only" });
    results.push(data);
  }
}
console.log(JSON.stringify({ requests, results }));
