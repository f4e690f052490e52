import type { ArgumentsCamelCase, Argv } from "yargs";
import { engineDown, engineSeed, engineStatus, engineUp } from "../engine-daemon.ts";

const say = (line: string) => process.stdout.write(line + "\n");

export const command = "engine <action>";
export const describe = "Start, stop or inspect a private BuildKit engine (dockerd), and seed a Debian base image for offline builds";

interface Args {
  action: "up" | "down" | "status" | "seed";
  suite: string;
  image?: string;
  mirror?: string;
  force: boolean;
  timeout: number;
}

export function builder(y: Argv): Argv<Args> {
  return y
    .positional("action", {
      choices: ["up", "down", "status", "seed"] as const,
      demandOption: true,
      describe:
        "up: start a private dockerd when no engine is reachable; down: stop it; status: say which engine runs builds; " +
        "seed: bootstrap debian:SUITE and debian:SUITE-slim with mmdebstrap and map them in the mirror map",
    })
    .option("suite", { type: "string", default: "bookworm", describe: "seed: the Debian suite to bootstrap" })
    .option("image", { type: "string", describe: "seed: the image name to import it as (default pipeline-seed/debian:SUITE)" })
    .option("mirror", { type: "string", describe: "seed: a Debian mirror URL or sources file for mmdebstrap (default: its own)" })
    .option("force", { type: "boolean", default: false, describe: "seed: rebuild the image even if it exists" })
    .option("timeout", { type: "number", default: 60, describe: "up/down: seconds to wait for dockerd" })
    .example("$0 engine up", "start a private engine (its socket lives under ~/.cache/pipeline/engine)")
    .example("$0 engine seed --suite bookworm", "make debian:bookworm available without a registry")
    .example("$0 engine status", "show which engine builds would use")
    .example("$0 engine down", "stop the private engine") as Argv<Args>;
}

export async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  switch (argv.action) {
    case "up":
      return engineUp(say, argv.timeout);
    case "down":
      return engineDown(say, argv.timeout);
    case "status":
      return engineStatus(say);
    case "seed":
      return engineSeed({ suite: argv.suite, image: argv.image, mirror: argv.mirror, force: argv.force }, say);
  }
}
