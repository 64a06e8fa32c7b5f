// graphql-http's audit of a GraphQL-over-HTTP server. Usage: node audit.mjs <url>
import { auditServer } from "graphql-http";

const results = await auditServer({ url: process.argv[2] });
console.log(JSON.stringify(results.map(({ id, name, status, reason }) => ({ id, name, status, reason }))));
