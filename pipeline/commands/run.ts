import type { ArgumentsCamelCase, Argv } from "yargs";
import { execute } from "../execute.ts";
import { loadRunnable } from "../load.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { outputOptions, outputRequest, type OutputArgs } from "../output-options.ts";

interface Args extends EngineArgs, OutputArgs {
  file: string;
}

export const command = "run <file>";
export const describe =
  "Run the Dagger object built by a TypeScript file's default export, (dag) => Container | Directory | File";

export function builder(y: Argv): Argv<Args> {
  return outputOptions(engineOptions(y))
    .positional("file", { type: "string", demandOption: true, describe: "A .ts file whose default export builds the object" })
    .example("$0 run graph.ts --export out/", "build and write the resulting directory to out/")
    .example("$0 run image.ts --tag demo:latest", "build a container and load it into Docker as demo:latest")
    .example("$0 run image.ts --tarball demo.tar", "build a container and save it as an image tarball")
    .example("$0 run graph.ts --export mine/ --force", "replace mine/ even though pipeline did not write it") as Argv<Args>;
}

export async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  const request = outputRequest(argv);
  const obj = await loadRunnable(argv.file);
  await execute(obj, request, { ...executeOptions(argv), force: argv.force });
}
