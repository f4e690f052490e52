// Module resolve hook for the CLI process: "@dagger.io/dagger" -> the light SDK: the bundle's sdk.mjs when the
// CLI runs from the bundle (typescript.mjs passes its URL), else sdk-light.mjs.
// Set PIPELINE_FULL_SDK=1 to load the full SDK everywhere instead.
let light = new URL("./sdk-light.mjs", import.meta.url).href;

export function initialize(data) {
  if (typeof data?.light === "string") light = data.light;
}

export async function resolve(specifier, context, next) {
  if (specifier === "@dagger.io/dagger") return { url: light, shortCircuit: true, format: "module" };
  return next(specifier, context);
}
