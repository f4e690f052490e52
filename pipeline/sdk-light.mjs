// The light SDK that TypeScript loaded at run time gets for "@dagger.io/dagger" (sdk-hooks.mjs; the bundle's
// sdk.mjs): the CLI's own part of it (sdk-core.mjs, the same module, so both share one `dag`) and the names of
// the full SDK that only a live engine session uses, graphql-request's client among them, which the CLI's own
// code never loads (graphql with it: about 40 ms of every command's start).
// test/unit/sdk-adapter.test.ts checks that it offers every name the full SDK's index exports.
export * from "./sdk-core.mjs";
export { GraphQLClient } from "graphql-request";
