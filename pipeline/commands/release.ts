/**
 * `pipeline release [--publish REGISTRY]`: every production image variant in one run, built in parallel on
 * one engine (so they share the toolchain layers and each other's work), each with its SBOM; a table of tag,
 * size and digest at the end. With --publish, each image is pushed as REGISTRY/NAME:TAG and the table shows
 * the digests the registry holds them under.
 */
import { connect } from "node:net";
import type { ArgumentsCamelCase, Argv, CommandModule } from "yargs";
import { resolve } from "node:path";
import { execute } from "../execute.ts";
import { checkOutputPath, projectProtectedDirs } from "../outputs.ts";
import { booleanValues, forceOption } from "../output-options.ts";
import { type EngineArgs, engineOptions, executeOptions } from "../options.ts";
import { loadProject } from "../project.ts";
import { capture } from "../proc.ts";
import { StepError, UsageError } from "../../modules/errors.ts";
import { type BuildkitEndpoint, dockerEnv, findBuildkit } from "../engines/detect.ts";
import { imageRef, type Variant, variantByName } from "../../modules/variants.ts";
import { checkImageRef } from "../../modules/k8s.ts";
import { sbomFileName } from "./stages.ts";
import type { ModuleSpec } from "../introspect.ts";
import { functionNamed, functionOptions } from "../function-options.ts";

interface Args extends EngineArgs {
  config?: string;
  source?: string;
  publish?: string;
  variant?: string[];
  out: string;
  force: boolean;
}

/**
 * `release`: its flags --source, --publish and --variant are the module's release function's arguments
 * (the CLI builds the variants itself, to print the table); --config, --out and --force are its own.
 */
export function releaseCommand(spec: ModuleSpec): CommandModule<object, Args> {
  const fn = functionNamed(spec, "release");
  return {
    command: "release",
    describe:
      "Build every production image variant in parallel (with SBOMs) and print tag, size and digest; --publish pushes them to a registry",
    builder: (y: Argv) =>
      functionOptions(engineOptions(y), fn)
        .option("config", { type: "string", describe: "The project config (default: ./pipeline.yaml)" })
        .option("out", { type: "string", default: "out/release", describe: "Where the SBOMs go (NAME_TAG.cdx.json)" })
        .option("force", forceOption)
        .check(booleanValues(["force"]))
        .example("$0 release", "build and load all four variants; SBOMs in out/release/")
        .example("$0 release --variant cpu --variant cpu-noavx", "only the CPU variants")
        .example(
          "$0 release --publish registry.example.org:5000/ml",
          "push each as registry.example.org:5000/ml/minipaddle:TAG",
        ) as Argv<Args>,
    handler,
  };
}

export interface Released {
  variant: string;
  tag: string;
  size?: number;
  digest?: string;
  seconds: number;
}

async function handler(argv: ArgumentsCamelCase<Args>): Promise<void> {
  const registry = argv.publish?.replace(/\/+$/, "");
  if (registry !== undefined) {
    const bad = checkImageRef(`${registry}/probe:tag`);
    if (bad || !/^[^/]*[.:]|^localhost(\/|$)/.test(registry)) {
      throw new UsageError(
        `--publish '${argv.publish}': expected a registry such as 127.0.0.1:5000 or registry.example.org/team${bad ? ` (${bad})` : ""}`,
      );
    }
  }
  const project = await loadProject({ config: argv.config, source: argv.source });
  const variants = (argv.variant?.length ? [...new Set(argv.variant)] : project.cfg.image.variants).map((n): Variant =>
    variantByName(project.cfg, n),
  );
  const sources = [resolve(project.dir, project.cfg.source), ...(argv.source !== undefined ? [resolve(argv.source)] : [])];
  const base = {
    ...executeOptions(argv),
    mirrors: project.cfg.mirrors,
    protectedDirs: projectProtectedDirs(project.dir, sources),
    force: argv.force,
  };
  // The SBOMs are written after minutes of building: their paths are checked before anything builds.
  for (const variant of variants) {
    await checkOutputPath(
      { kind: "export", path: `${argv.out}/${sbomFileName(imageRef(project.cfg, variant))}`, flag: "--out" },
      { shape: "file", ...base },
    );
  }
  // Parallel builds share the terminal: each reports a line when it starts and ends, unless asked for logs.
  const progress = argv.progress === "plain" || argv.progress === "tty" ? argv.progress : "quiet";
  const say = (line: string) => process.stderr.write(line + "\n");
  const started = Date.now();
  const endpoint = await findBuildkit(base).catch(() => undefined);
  // Pushing is the last step of minutes of building: find out first whether the registry is there. Only
  // when the engine runs on this machine, so that what answers here is what the engine's push reaches.
  if (registry !== undefined && endpoint?.kind === "docker" && endpoint.host.startsWith("unix://")) {
    const why = await unreachable(registry);
    if (why)
      throw new StepError(
        `--publish ${registry}: the registry does not answer (${why}); nothing was built. Start it, or check the address`,
      );
  }
  say(
    `release: ${variants.length} variant(s) in parallel: ${variants.map((v) => v.name).join(", ")}${registry ? `; publishing to ${registry}` : ""}`,
  );

  const results = await Promise.all(
    variants.map(async (variant): Promise<Released> => {
      const tag = imageRef(project.cfg, variant);
      const ref = registry ? `${registry}/${tag}` : tag;
      const opts = {
        ...base,
        progress: variants.length > 1 ? progress : argv.progress,
        say: (l: string) => say(l.replace(/^pipeline:/, `release ${tag}:`)),
      };
      const image = await project.pipeline.image(project.source, variant.name);
      const run = await execute(image, registry ? { kind: "publish", ref } : { kind: "tag", image: tag }, opts);
      const sbom = `${argv.out}/${sbomFileName(tag)}`;
      await execute(
        await project.pipeline.sbom(project.source, variant.name),
        { kind: "export", path: sbom },
        { ...opts, say: () => {} },
      );
      say(`release: ${ref} ${registry ? "pushed" : "built"}; SBOM ${sbom}`);
      const local = endpoint?.kind === "docker" ? await inspectImage(ref, endpoint) : undefined;
      return { variant: variant.name, tag: ref, digest: run?.digest ?? local?.id, seconds: run?.seconds ?? 0, size: local?.size };
    }),
  );
  process.stdout.write(table(results, registry !== undefined));
  say(`release: ${results.length} image(s) in ${((Date.now() - started) / 1000).toFixed(1)}s`);
}

/** Why nothing listens at the registry's host and port (443 when none is given), or undefined when something does. */
export function unreachable(registry: string, timeoutMs = 5_000): Promise<string | undefined> {
  const hostPort = registry.split("/")[0]!;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(hostPort);
  const host = (m?.[1] ?? hostPort).replace(/^\[|\]$/g, "");
  const port = Number(m?.[2] ?? 443);
  return new Promise((done) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    socket.once("connect", () => {
      socket.destroy();
      done(undefined);
    });
    socket.once("timeout", () => {
      socket.destroy();
      done(`no answer from ${host}:${port} in ${timeoutMs / 1000} s`);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => done(`${err.code ?? err.message} from ${host}:${port}`));
  });
}

/** The image's size and ID in a Docker engine's image store. */
async function inspectImage(
  ref: string,
  endpoint: BuildkitEndpoint & { kind: "docker" },
): Promise<{ size: number; id: string } | undefined> {
  const r = await capture(endpoint.client, ["image", "inspect", "--format", "{{.Size}} {{.Id}}", ref], {
    env: dockerEnv(endpoint),
  });
  const [size, id] = r.stdout.trim().split(" ");
  return r.code === 0 && id ? { size: Number(size), id } : undefined;
}

function human(bytes: number | undefined): string {
  if (bytes === undefined) return "-";
  return bytes >= 1e9 ? `${(bytes / 1e9).toFixed(2)} GB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** The closing table: TAG, SIZE, DIGEST (the registry's digest when published, else the local image ID). */
export function table(rows: Released[], published: boolean): string {
  const head = ["TAG", "SIZE", published ? "DIGEST (pushed)" : "DIGEST (image ID)"];
  const body = rows.map((r) => [r.tag, human(r.size), r.digest ?? "-"]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return (
    [head, ...body]
      .map((cols) =>
        cols
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}
