import type { ArgumentsCamelCase, Argv } from "yargs";
import { DEFAULT_CACHE_SIZE, engineDown, enginePrune, engineStatus, engineUp } from "../engine-daemon.ts";
import { engineSeed } from "../engine-seed.ts";

const say = (line: string) => process.stdout.write(line + "\n");

export const command = "engine <action>";
export const describe =
  "Start, stop, inspect or prune a private BuildKit engine (dockerd), and seed a Debian base image for offline builds";

interface Args {
  action: "up" | "down" | "status" | "seed" | "prune";
  suite: string;
  image?: string;
  mirror?: string;
  force: boolean;
  timeout: number;
  cacheSize?: string;
  all: boolean;
  keepStorage?: string;
}

export function builder(y: Argv): Argv<Args> {
  return y
    .positional("action", {
      choices: ["up", "down", "status", "seed", "prune"] as const,
      demandOption: true,
      describe:
        "up: start a private dockerd when no engine is reachable; down: stop it (refused while builds run on it, unless --force); " +
        "status: say which engine runs builds and how big its image store and build cache are; " +
        "seed: bootstrap debian:SUITE and debian:SUITE-slim with mmdebstrap and map them in the mirror map; " +
        "prune: free the engine's build cache",
    })
    .option("suite", { type: "string", default: "bookworm", describe: "seed: the Debian suite to bootstrap" })
    .option("image", { type: "string", describe: "seed: the image name to import it as (default pipeline-seed/debian:SUITE)" })
    .option("mirror", { type: "string", describe: "seed: a Debian mirror URL or sources file for mmdebstrap (default: its own)" })
    .option("force", {
      type: "boolean",
      default: false,
      describe: "seed: rebuild the image even if it exists; down: stop the engine even while builds run on it (they exit 3)",
    })
    .option("timeout", { type: "number", default: 60, describe: "up/down: seconds to wait for dockerd" })
    .option("cache-size", {
      type: "string",
      describe: `up: the size the engine's garbage collector keeps the build cache under (default $PIPELINE_ENGINE_CACHE, else ${DEFAULT_CACHE_SIZE})`,
    })
    .option("all", {
      type: "boolean",
      default: false,
      describe: "prune: remove all the build cache, not only what no image uses",
    })
    .option("keep-storage", { type: "string", describe: "prune: keep this much of the build cache (e.g. 5GB)" })
    .example("$0 engine up", "start a private engine (its socket lives under ~/.cache/pipeline/engine)")
    .example("$0 engine seed --suite bookworm", "make debian:bookworm available without a registry")
    .example("$0 engine status", "show which engine builds would use")
    .example("$0 engine up --cache-size 10GB", "start it with its build cache kept under 10 GB")
    .example("$0 engine prune --keep-storage 5GB", "shrink the build cache to 5 GB now")
    .example("$0 engine down", "stop the private engine") as Argv<Args>;
}

export async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  switch (argv.action) {
    case "up":
      return engineUp(say, { timeoutS: argv.timeout, cacheSize: argv.cacheSize });
    case "down":
      return engineDown(say, { timeoutS: argv.timeout, force: argv.force });
    case "prune":
      return enginePrune({ all: argv.all, keepStorage: argv.keepStorage }, say);
    case "status":
      return engineStatus(say);
    case "seed":
      return engineSeed({ suite: argv.suite, image: argv.image, mirror: argv.mirror, force: argv.force }, say);
  }
}
