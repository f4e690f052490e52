// The Dagger SDK's computeQuery, loaded on its first use: the SDK's Context imports it (bundle.mjs resolves that
// import here), and with it graphql-request and graphql, about 40 ms of loading that a command which never
// queries an engine (a build on BuildKit) would pay at every start.
export async function computeQuery(q, client) {
  return (await import("../node_modules/@dagger.io/dagger/dist/src/common/graphql/compute_query.js")).computeQuery(q, client);
}
