// Module resolve hook for the CLI process: "@dagger.io/dagger" -> the light SDK (sdk-light.mjs).
// Set PIPELINE_FULL_SDK=1 to load the full SDK everywhere instead.
const light = new URL("./sdk-light.mjs", import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === "@dagger.io/dagger") return { url: light, shortCircuit: true, format: "module" };
  return next(specifier, context);
}
