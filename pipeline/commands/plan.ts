import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { writeContext } from "../context.ts";
import { renderDockerfile } from "../dockerfile.ts";
import { planFor } from "../execute.ts";
import { loadRunnable } from "../load.ts";
import { atomicWrite } from "../outputs.ts";
import type { Plan } from "../plan.ts";
import { loadProject } from "../project.ts";
import { UsageError } from "../../modules/errors.ts";
import type { ModuleSpec } from "../introspect.ts";
import { callStage, type StageCommand, stageOptions, stagesOf } from "./stages.ts";

interface Args {
  target: string;
  emit: "dockerfile" | "json";
  context?: string;
  config?: string;
  source?: string;
  [flag: string]: unknown;
}

/** `plan`, over the module's stages (their flags are the union of the stages' arguments). */
export function planCommand(spec: ModuleSpec): CommandModule<object, Args> {
  const stages = stagesOf(spec).map((st) => ({ ...st, options: {} }));
  return {
    command: "plan <target>",
    describe: "Print the BuildKit build that a stage or a file's Dagger object runs, as a Dockerfile (an eject) or as JSON",
    builder: (y: Argv) => builder(y, stages),
    handler: (argv: ArgumentsCamelCase<Args>) => handler(argv, stages),
  };
}

function builder(y: Argv, STAGES: StageCommand[]): Argv<Args> {
  let b = y
    .positional("target", {
      type: "string",
      demandOption: true,
      describe: `A stage (${STAGES.map((s) => s.name).join(", ")}) or a .ts file whose default export builds a Dagger object`,
    })
    .option("emit", { choices: ["dockerfile", "json"] as const, default: "dockerfile" as const, describe: "What to print" })
    .option("context", {
      type: "string",
      describe: "Also write the whole build context (Dockerfile, host files, new files) to this folder, ready for docker build",
    });
  // The union of the stages' flags; each stage reads those it has.
  b = stageOptions(b, STAGES) as unknown as typeof b;
  return b
    .example("$0 plan build --no-avx", "the Dockerfile of the no-AVX build")
    .example(
      "$0 plan graph.ts --context ctx/ && DOCKER_BUILDKIT=1 docker build --network host ctx/",
      "eject a graph and build it with Docker",
    ) as Argv<Args>;
}

async function handler(argv: ArgumentsCamelCase<Args>, STAGES: StageCommand[]): Promise<void> {
  const stage = STAGES.find((s) => s.name === argv.target);
  if (stage) {
    const project = await loadProject({ config: argv.config, source: argv.source, cmake: stage.sourceKind !== "program" });
    stage.prepare?.(project, argv);
    const plan = await planFor(await callStage(project, stage, argv), project.cfg.mirrors);
    return emitPlan(plan, argv);
  }
  if (!/\.(ts|mts|js|mjs)$/.test(argv.target)) {
    throw new UsageError(`'${argv.target}' is neither a stage (${STAGES.map((s) => s.name).join(", ")}) nor a .ts file`);
  }
  await emitPlan(await planFor(await loadRunnable(argv.target)), argv);
}

/** Prints a plan (secrets shown by id only) and optionally writes its build context. */
export async function emitPlan(plan: Plan, argv: { emit: "dockerfile" | "json"; context?: string }): Promise<void> {
  if (argv.context)
    await atomicWrite(argv.context, async (tmp) => {
      await writeContext(plan, tmp);
    });
  if (argv.emit === "json") {
    const shown = { ...plan, secrets: plan.secrets.map((s) => ({ id: s.id })) };
    process.stdout.write(JSON.stringify(shown, null, 2) + "\n");
  } else {
    process.stdout.write(renderDockerfile(plan));
  }
}
