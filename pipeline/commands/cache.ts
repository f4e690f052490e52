/**
 * `pipeline cache push|pull REGISTRY`: a shared compile cache. Each variant's compiler cache (ccache) and last
 * build tree travel as images REGISTRY/NAME-cache:VARIANT-ccache and REGISTRY/NAME-cache:VARIANT-build-tree
 * (modules/cache.ts: a tarball and a manifest with the project, variant, part and its SHA-256, checked on pull),
 * and the development image as REGISTRY/NAME-cache:dev-VERSION. A fresh engine that pulls them builds with its
 * compiles served from the tree and from ccache.
 */
import { randomBytes } from "node:crypto";
import type { ArgumentsCamelCase, Argv } from "yargs";
import { execute } from "../execute.ts";
import { pushedDigest } from "../engines/buildkit.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { loadProject } from "../project.ts";
import { capture } from "../proc.ts";
import { PipelineError, StepError, UsageError } from "../../modules/errors.ts";
import { dockerEnv, engineKey, findBuildkit } from "../engines/detect.ts";
import { STANDARD_VARIANTS, type Variant, variantByName } from "../../modules/variants.ts";
import { checkImageRef } from "../../modules/k8s.ts";
import { CACHE_PARTS, type CachePart, cacheImageRef, packCache, unpackCache } from "../../modules/cache.ts";
import { debianBase, devBaseImage } from "../../modules/toolchain.ts";
import { readMirrors } from "../mirrors.ts";
import { mirrored } from "../plan/state.ts";

type Part = CachePart | "dev-image";

interface Args extends EngineArgs {
  action: "push" | "pull";
  registry: string;
  config?: string;
  variant?: string[];
  test: boolean;
  only?: Part[];
}

export const command = "cache <action> <registry>";
export const describe =
  "Push the compile cache (ccache, build tree, dev image) of each variant to a registry, or pull it into this engine";

export function builder(y: Argv): Argv<Args> {
  return engineOptions(y)
    .positional("action", {
      choices: ["push", "pull"] as const,
      demandOption: true,
      describe: "push: from the engine to the registry; pull: the reverse",
    })
    .positional("registry", { type: "string", demandOption: true, describe: "host[:port][/path] of an OCI registry" })
    .option("config", { type: "string", describe: "The project config (default: ./pipeline.yaml)" })
    .option("variant", {
      type: "string",
      array: true,
      describe: `The variants whose caches move (${STANDARD_VARIANTS.join(", ")}, ...; default: cpu)`,
    })
    .option("test", {
      type: "boolean",
      default: false,
      describe: "The caches of the builds with tests (build --test, test) instead",
    })
    .option("only", {
      choices: [...CACHE_PARTS, "dev-image"] as const,
      array: true,
      describe: "Move only these parts (default: ccache, build-tree and dev-image)",
    })
    .example("$0 cache push 127.0.0.1:5000", "push the cpu variant's ccache, build tree and dev image")
    .example(
      "$0 cache pull registry.example.org/team --variant cpu --variant cpu-noavx",
      "seed this engine's caches for two variants",
    )
    .example(
      "$0 cache pull 127.0.0.1:5000 --only ccache",
      "only the compiler cache (compiles run, mostly as ccache hits)",
    ) as Argv<Args>;
}

/** Whether the registry holds `ref` (HEAD of its manifest), when the registry answers here; undefined if it does not. */
async function registryHas(ref: string): Promise<boolean | undefined> {
  const m = /^([^/]+)\/(.+):([^:/]+)$/.exec(ref);
  if (!m) return undefined;
  const [, host, repo, tag] = m;
  const plain = /^(localhost|127\.[\d.]+|\[::1\])(:\d+)?$/.test(host!);
  try {
    const r = await fetch(`${plain ? "http" : "https"}://${host}/v2/${repo}/manifests/${tag}`, {
      method: "HEAD",
      headers: { Accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" },
      signal: AbortSignal.timeout(10_000),
    });
    if (r.status === 404) return false;
    return r.ok ? true : undefined;
  } catch {
    return undefined;
  }
}

export async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  const registry = argv.registry.replace(/\/+$/, "");
  const bad = checkImageRef(`${registry}/probe:tag`);
  if (bad || !/^[^/]*[.:]|^localhost(\/|$)/.test(registry)) {
    throw new UsageError(
      `cache ${argv.action} '${argv.registry}': expected a registry such as 127.0.0.1:5000 or registry.example.org/team${bad ? ` (${bad})` : ""}`,
    );
  }
  const project = await loadProject({ config: argv.config });
  const { cfg } = project;
  const variants = (argv.variant?.length ? [...new Set(argv.variant)] : ["cpu"]).map((n): Variant => variantByName(cfg, n));
  // The dev image first: its pull brings the Debian base that the other parts' containers start from (an engine
  // that was never seeded, or whose base the pull replaces).
  const parts = (argv.only?.length ? [...new Set(argv.only)] : [...CACHE_PARTS, "dev-image" as const]).sort(
    (a, b) => Number(b === "dev-image") - Number(a === "dev-image"),
  );
  const opts = { ...executeOptions(argv), mirrors: cfg.mirrors };
  const say = (line: string) => process.stderr.write(line + "\n");
  const base = debianBase("bookworm", cfg.images.build);
  const nonce = randomBytes(8).toString("hex");
  const failures: string[] = [];
  const rows: string[] = [];

  for (const v of variants) {
    for (const part of parts) {
      if (part === "dev-image") {
        if (variants.indexOf(v) > 0 && !v.cuda === !variants[0]!.cuda) continue;
        const ref = cacheImageRef(registry, cfg, v, argv.test, "dev");
        const local = `${cfg.name}-dev:${cfg.version}${v.cuda ? "-gpu" : ""}`;
        const dev = await project.pipeline.devImage(v.cuda);
        const from = devBaseImage(cfg, v.cuda);
        try {
          if (argv.action === "push") {
            // The dev image carries its layers' cache keys (inline cache), and the base it was built on travels
            // with it: the keys start at the base's layers, which differ between engines seeded separately.
            const r = await execute(dev, { kind: "publish", ref }, { ...opts, say, inlineCache: true });
            rows.push(`${ref}  ${r?.digest ?? ""}`);
            const base = await pushBase(from, `${ref}-base`, opts, say);
            if (base) rows.push(`${ref}-base  ${base}`);
          } else {
            const base = await pullBase(from, `${ref}-base`, opts, say);
            // Built with the pulled image's layer cache: every toolchain step whose key matches is taken from it
            // and kept in this engine's own cache, so later builds reuse it without the registry.
            const r = await execute(dev, { kind: "tag", image: local }, { ...opts, say, cacheFrom: [ref] });
            const steps = r ? `: ${r.cached} of ${r.steps} steps from the cache, ${r.executed} run` : "";
            rows.push(`${ref} -> ${local}${steps}${base ? `; ${from} -> ${base}` : ""}`);
          }
        } catch (err) {
          if (!(err instanceof PipelineError) || err.exitCode === 3) throw err;
          failures.push(`dev image (${ref}): ${err.message}`);
        }
        continue;
      }
      const ref = cacheImageRef(registry, cfg, v, argv.test, part);
      try {
        if (argv.action === "push") {
          const r = await execute(packCache(cfg, base, v, argv.test, part, nonce), { kind: "publish", ref }, { ...opts, say });
          rows.push(`${ref}  ${r?.digest ?? ""}`);
          await untag(ref, opts);
        } else {
          if ((await registryHas(ref)) === false) {
            say(`pipeline cache: ${registry} holds no ${ref.slice(registry.length + 1)}; skipped`);
            continue;
          }
          await execute(unpackCache(cfg, base, v, argv.test, part, ref, nonce), { kind: "sync" }, { ...opts, say });
          rows.push(`${ref} -> ${part} of ${v.name}${argv.test ? " (test)" : ""}`);
        }
      } catch (err) {
        if (!(err instanceof PipelineError) || err.exitCode === 3 || err.exitCode >= 128) throw err;
        failures.push(`${part} of ${v.name} (${ref}): ${err.message}`);
      }
    }
  }
  for (const row of rows) process.stdout.write(`${row}\n`);
  if (failures.length) {
    throw new StepError(
      `cache ${argv.action}: ${failures.length} part(s) not moved (the builds still work, from a colder cache):\n  ${failures.join("\n  ").replace(/\n/g, "\n  ")}`,
    );
  }
}

/** Removes the tag a push left in a Docker engine's image store (the cache's tarball is in the registry now). */
async function untag(ref: string, opts: { buildkitAddr?: string }): Promise<void> {
  const endpoint = await findBuildkit(opts);
  if (endpoint.kind === "docker") await capture(endpoint.client, ["rmi", ref], { env: dockerEnv(endpoint) });
}

/** The Docker engine the cache command talks to, with its image-mirror map; undefined for a standalone buildkitd. */
/** What the cache command's engine helpers need: the engine flag and the project config's mirrors. */
type EngineOpts = { buildkitAddr?: string; mirrors?: Record<string, string> };

async function dockerEngine(opts: EngineOpts) {
  const endpoint = await findBuildkit(opts);
  if (endpoint.kind !== "docker") return undefined;
  const mirrors = { ...(await readMirrors(engineKey(endpoint))), ...opts.mirrors };
  const env = dockerEnv(endpoint);
  const docker = async (args: string[]) => {
    const r = await capture(endpoint.client, args, { env });
    if (r.code !== 0) throw new StepError(`docker ${args.join(" ")}: ${(r.stderr || r.stdout).trim()}`);
    return r.stdout;
  };
  return {
    endpoint,
    mirrors,
    docker,
    has: async (ref: string) => (await capture(endpoint.client, ["image", "inspect", ref], { env })).code === 0,
    /** Removes a tag (the image stays while another tag names it). */
    untag: async (ref: string) => void (await capture(endpoint.client, ["rmi", ref], { env })),
  };
}

/**
 * Pushes the image the dev image was built from (as this engine resolves `from`: a seeded base, through the
 * mirror map) to `ref`, unchanged; returns its digest. A standalone buildkitd keeps no images: nothing pushed.
 */
async function pushBase(from: string, ref: string, opts: EngineOpts, say: (l: string) => void): Promise<string | undefined> {
  const d = await dockerEngine(opts);
  if (!d) {
    say(
      `pipeline cache: a standalone buildkitd keeps no images: the base ${from} is not pushed (a fresh engine reuses the toolchain layers only if it resolves ${from} to the same image)`,
    );
    return undefined;
  }
  const local = mirrored(d.mirrors, from);
  if (!(await d.has(local))) await d.docker(["pull", local]);
  await d.docker(["tag", local, ref]);
  try {
    return pushedDigest(ref, await d.docker(["push", ref]));
  } finally {
    await d.untag(ref);
  }
}

/**
 * Pulls the base the dev image was built on (`ref`) and makes it the image this engine resolves `from` to (the
 * mirror map's name for it, or `from` itself), so that the toolchain steps' cache keys are the pushing
 * engine's. Returns that name; undefined where the registry holds no base or the engine keeps no images.
 */
async function pullBase(from: string, ref: string, opts: EngineOpts, say: (l: string) => void): Promise<string | undefined> {
  const d = await dockerEngine(opts);
  if (!d || (await registryHas(ref)) === false) {
    say(
      `pipeline cache: no base image pulled for ${from} (${d ? `the registry holds no ${ref}` : "a standalone buildkitd keeps no images"}): the toolchain steps are reused only if this engine resolves ${from} to the pushing engine's image`,
    );
    return undefined;
  }
  const local = mirrored(d.mirrors, from);
  if (local.includes("@")) {
    say(`pipeline cache: ${from} resolves to ${local}, pinned by digest here: the base is left as it is`);
    return undefined;
  }
  await d.docker(["pull", ref]);
  await d.docker(["tag", ref, local]);
  await d.untag(ref);
  say(`pipeline cache: ${local} on this engine is now the base the cache was built on (${ref})`);
  return local;
}
