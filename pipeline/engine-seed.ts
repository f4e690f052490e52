/**
 * `pipeline engine seed`: the Debian base images (debian:SUITE and debian:SUITE-slim) bootstrapped from Debian
 * packages with mmdebstrap, imported into the Docker engine and recorded in the image-mirror map, for machines
 * with no registry.
 */
import { spawn } from "node:child_process";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EngineUnavailable, UsageError } from "../modules/errors.ts";
import { capture, which } from "./proc.ts";
import { dockerEnv, engineKey, findBuildkit } from "./engines/detect.ts";
import { recordMirror } from "./mirrors.ts";

type Say = (line: string) => void;

export interface SeedOptions {
  suite: string;
  image?: string;
  mirror?: string;
  force?: boolean;
}

export function seedImageName(suite: string): string {
  return `pipeline-seed/debian:${suite}`;
}

/** The slim image's name next to a seed image's: NAME:TAG -> NAME:TAG-slim. */
function slimName(image: string): string {
  return /:[^/]+$/.test(image) ? `${image}-slim` : `${image}:slim`;
}

/**
 * What Debian's own -slim images leave out, as dpkg path filters. mmdebstrap writes them into the image's
 * dpkg config, so packages installed later (the production images' runtime libraries) stay slim too.
 */
const SLIM_DPKG_OPTS = [
  "path-exclude=/usr/share/man/*",
  "path-exclude=/usr/share/info/*",
  "path-exclude=/usr/share/doc/*",
  "path-include=/usr/share/doc/*/copyright",
  "path-exclude=/usr/share/locale/*",
  "path-include=/usr/share/locale/locale.alias",
  "path-exclude=/usr/share/lintian/*",
];

/**
 * Seeds `debian:SUITE` and `debian:SUITE-slim` (the production images' default runtime base): each bootstrapped
 * from Debian packages with mmdebstrap, imported into Docker, and recorded in the image-mirror map.
 */
export async function engineSeed(opts: SeedOptions, say: Say): Promise<void> {
  if (!/^[a-z][a-z0-9-]*$/.test(opts.suite))
    throw new UsageError(`--suite: expected a Debian suite name such as bookworm, got '${opts.suite}'`);
  const image = opts.image ?? seedImageName(opts.suite);
  const endpoint = await findBuildkit();
  if (endpoint.kind !== "docker")
    throw new UsageError("seed loads the image into Docker; it cannot import into a standalone buildkitd");
  const env = dockerEnv(endpoint);
  const mmdebstrap = await which("mmdebstrap");
  for (const slim of [false, true]) {
    const name = slim ? slimName(image) : image;
    const ref = `debian:${opts.suite}${slim ? "-slim" : ""}`;
    const exists = (await capture(endpoint.client, ["image", "inspect", name], { env })).code === 0;
    if (exists && !opts.force) {
      await recordMirror(engineKey(endpoint), ref, name);
      say(`seed: ${name} is already there (use --force to rebuild); ${ref} -> ${name}`);
      continue;
    }
    if (!mmdebstrap) throw new UsageError("seed needs mmdebstrap; install it with: apt-get install -y mmdebstrap");
    const work = await fs.mkdtemp(join(tmpdir(), "pipeline-seed-"));
    try {
      const tar = join(work, "rootfs.tar");
      say(`seed: bootstrapping ${ref} (minbase${slim ? ", no docs, man pages or locales" : ""}) from Debian packages ...`);
      const args = [
        "--variant=minbase",
        "--quiet",
        // Slim: merged /usr made by mmdebstrap's hook rather than the usrmerge package (which pulls in perl).
        ...(slim ? [...SLIM_DPKG_OPTS.map((o) => `--dpkgopt=${o}`), "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"] : []),
        opts.suite,
        tar,
        ...(opts.mirror ? [opts.mirror] : []),
      ];
      const code = await new Promise<number>((res) => {
        const child = spawn(mmdebstrap, args, { stdio: ["ignore", "inherit", "inherit"] });
        child.on("close", (c) => res(c ?? 1));
        child.on("error", () => res(127));
      });
      if (code !== 0) throw new EngineUnavailable(`mmdebstrap failed (exit ${code}); is Debian's package mirror reachable?`);
      const imported = await capture(endpoint.client, ["import", "--change", 'CMD ["bash"]', tar, name], { env });
      if (imported.code !== 0) throw new EngineUnavailable(`docker import failed: ${imported.stderr.trim()}`);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
    await recordMirror(engineKey(endpoint), ref, name);
    say(`seed: ${name} imported; from("${ref}") now resolves to it`);
  }
}
