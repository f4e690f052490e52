/**
 * The private engine: a dockerd with its own data root, exec root and socket under the state dir (no bridge,
 * no iptables), for machines where no BuildKit is reachable. And `seed`: a Debian base image bootstrapped
 * from Debian packages with mmdebstrap, recorded in the image-mirror map, for machines with no registry.
 */
import { spawn } from "node:child_process";
import { openSync, closeSync, promises as fs, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { EngineUnavailable, UsageError } from "../modules/errors.ts";
import { engineDir } from "./paths.ts";
import { alive, capture, which } from "./proc.ts";
import { type BuildkitEndpoint, dockerClient, dockerEnv, findBuildkit, privateEngineHost, runningDockerd } from "./engines/detect.ts";
import { recordMirror } from "./mirrors.ts";

type Say = (line: string) => void;

async function reachable(): Promise<BuildkitEndpoint | undefined> {
  try {
    return await findBuildkit();
  } catch (err) {
    if (err instanceof EngineUnavailable) return undefined;
    throw err;
  }
}

export async function engineUp(say: Say, timeoutS = 60): Promise<void> {
  const existing = await reachable();
  if (existing) {
    const where = existing.kind === "docker" ? existing.host : existing.addr;
    say(`an engine is already reachable: ${existing.via} (${where}); nothing to start`);
    return;
  }
  const dockerd = await which("dockerd");
  if (!dockerd) {
    throw new EngineUnavailable("dockerd is not installed; install it with: apt-get install -y docker.io");
  }
  const client = await dockerClient();
  if (!client) throw new EngineUnavailable("no Docker client with BuildKit; install one with: apt-get install -y docker.io");
  const p = engineDir();
  if (p.socket.length > 100) throw new UsageError(`the engine socket path is too long for a Unix socket: ${p.socket}; set PIPELINE_HOME to a shorter folder`);
  await fs.mkdir(p.dir, { recursive: true });
  // A pidfile or socket left by a dockerd that is gone (a reboot, a kill) would stop a new one starting.
  if (!runningDockerd(p.pidfile)) await fs.rm(p.pidfile, { force: true });
  await fs.rm(p.socket, { force: true });
  const log = openSync(p.log, "a");
  const child = spawn(
    dockerd,
    [
      "--data-root", p.dataRoot,
      "--exec-root", p.execRoot,
      "--pidfile", p.pidfile,
      "--host", `unix://${p.socket}`,
      "--bridge=none",
      "--iptables=false",
      "--ip-forward=false",
    ],
    { detached: true, stdio: ["ignore", log, log] },
  );
  closeSync(log);
  let exited: number | null = null;
  child.on("exit", (code) => (exited = code ?? 1));
  child.unref();
  say(`starting dockerd (pid ${child.pid}), data in ${p.dataRoot} ...`);
  const host = `unix://${p.socket}`;
  const deadline = Date.now() + timeoutS * 1000;
  while (Date.now() < deadline) {
    if (exited !== null) break;
    const info = await capture(client.client, ["info", "--format", "{{.ServerVersion}}"], { env: { ...process.env, DOCKER_HOST: host }, timeoutMs: 5000 });
    if (info.code === 0 && info.stdout.trim()) {
      say(`engine up: Docker ${info.stdout.trim()} with BuildKit, pid ${child.pid}`);
      say(`pipeline finds it without flags; for the docker client: export DOCKER_HOST=${host}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const tail = readFileSync(p.log, "utf8").trim().split("\n").slice(-8).join("\n  ");
  if (exited === null) child.pid && process.kill(child.pid, "SIGTERM");
  throw new EngineUnavailable(`dockerd did not come up within ${timeoutS}s (log ${p.log}):\n  ${tail}`);
}

export async function engineDown(say: Say, timeoutS = 30): Promise<void> {
  const p = engineDir();
  const pid = runningDockerd(p.pidfile);
  if (!pid) {
    say("no private engine is running");
    await fs.rm(p.socket, { force: true });
    return;
  }
  process.kill(pid, "SIGTERM");
  const deadline = Date.now() + timeoutS * 1000;
  while (alive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  if (alive(pid)) process.kill(pid, "SIGKILL");
  await fs.rm(p.socket, { force: true });
  await fs.rm(p.pidfile, { force: true });
  say(`engine down: stopped dockerd (pid ${pid}); its data stays in ${p.dataRoot}`);
}

export async function engineStatus(say: Say): Promise<void> {
  const p = engineDir();
  const priv = privateEngineHost();
  say(priv.host ? `private engine: running (pid ${priv.pid}, ${priv.host})` : `private engine: not running (${p.dir})`);
  const endpoint = await findBuildkit();
  const where = endpoint.kind === "docker" ? `${endpoint.host}, client ${endpoint.client} (${endpoint.mode})` : endpoint.addr;
  say(`BuildKit: ${endpoint.via}: ${where}`);
}

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
  if (!/^[a-z][a-z0-9-]*$/.test(opts.suite)) throw new UsageError(`--suite: expected a Debian suite name such as bookworm, got '${opts.suite}'`);
  const image = opts.image ?? seedImageName(opts.suite);
  const endpoint = await findBuildkit();
  if (endpoint.kind !== "docker") throw new UsageError("seed loads the image into Docker; it cannot import into a standalone buildkitd");
  const env = dockerEnv(endpoint);
  const mmdebstrap = await which("mmdebstrap");
  for (const slim of [false, true]) {
    const name = slim ? slimName(image) : image;
    const ref = `debian:${opts.suite}${slim ? "-slim" : ""}`;
    const exists = (await capture(endpoint.client, ["image", "inspect", name], { env })).code === 0;
    if (exists && !opts.force) {
      await recordMirror(ref, name);
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
    await recordMirror(ref, name);
    say(`seed: ${name} imported; from("${ref}") now resolves to it`);
  }
}
