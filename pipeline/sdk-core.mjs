// The Dagger SDK as the CLI's own code needs it to build lazy objects (sdk-light.mjs adds the rest of the SDK's
// names), without the parts only a live engine session needs (the TypeScript compiler for module introspection,
// OpenTelemetry, gRPC; graphql-request and graphql, which the bundle loads on a query's first use:
// sdk-query.mjs), which take about a second to load. `bin.mjs` resolves "@dagger.io/dagger" here (bundle.mjs);
// `connection`/`connect` load the full SDK on first use. It re-exports the SDK's own modules, so `dag` and every
// class are the very same objects as in the full SDK.
export * from "../node_modules/@dagger.io/dagger/dist/src/api/client.gen.js";
export * from "../node_modules/@dagger.io/dagger/dist/src/common/errors/index.js";
export * from "../node_modules/@dagger.io/dagger/dist/src/module/decorators.js";
export { Context } from "../node_modules/@dagger.io/dagger/dist/src/common/context.js";

const full = () => import("../node_modules/@dagger.io/dagger/dist/src/index.js");

export async function connection(...args) {
  return (await full()).connection(...args);
}
export async function connect(...args) {
  return (await full()).connect(...args);
}
export async function entrypoint(...args) {
  return (await full()).entrypoint(...args);
}

/** Telemetry is left out of the light SDK (it loads OpenTelemetry); this loads it on first use. */
export async function getTracer(...args) {
  return (await import("../node_modules/@dagger.io/dagger/dist/src/telemetry/index.js")).getTracer(...args);
}
