import type { ArgumentsCamelCase, Argv } from "yargs";
import { writeContext } from "../context.ts";
import { renderDockerfile } from "../dockerfile.ts";
import { planFor } from "../execute.ts";
import { loadRunnable } from "../load.ts";
import { atomicWrite } from "../outputs.ts";
import type { Plan } from "../plan.ts";

interface Args {
  file: string;
  emit: "dockerfile" | "json";
  context?: string;
}

export const command = "plan <file>";
export const describe = "Print the BuildKit build that `run` would solve for a file's Dagger object (an eject to a Dockerfile)";

export function builder(y: Argv): Argv<Args> {
  return y
    .positional("file", { type: "string", demandOption: true, describe: "A .ts file whose default export builds the object" })
    .option("emit", { choices: ["dockerfile", "json"] as const, default: "dockerfile" as const, describe: "What to print" })
    .option("context", {
      type: "string",
      describe: "Also write the whole build context (Dockerfile, host files, new files) to this folder, ready for docker build",
    })
    .example("$0 plan graph.ts", "print the Dockerfile")
    .example("$0 plan graph.ts --context ctx/ && DOCKER_BUILDKIT=1 docker build --network host ctx/", "eject and build with Docker") as Argv<Args>;
}

export async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  const plan = await planFor(await loadRunnable(argv.file));
  await emitPlan(plan, argv);
}

/** Prints a plan (secrets shown by id only) and optionally writes its build context. */
export async function emitPlan(plan: Plan, argv: { emit: "dockerfile" | "json"; context?: string }): Promise<void> {
  if (argv.context) await atomicWrite(argv.context, (tmp) => writeContext(plan, tmp));
  if (argv.emit === "json") {
    const shown = { ...plan, secrets: plan.secrets.map((s) => ({ id: s.id })) };
    process.stdout.write(JSON.stringify(shown, null, 2) + "\n");
  } else {
    process.stdout.write(renderDockerfile(plan));
  }
}
