// The CLI as bundled ES modules, so a command starts without tsx: registering tsx's loader thread and
// transpiling each file on load costs about half a second on every command, the bundle starts in about 0.25 s.
// It is split (esbuild's code splitting): what a command imports only when it needs it (the Kubernetes schemas,
// the Dagger engine's path) is a chunk of its own, which other commands never read or compile.
// It is built with esbuild on first use, and again whenever one of its own source files, package.json,
// package-lock.json or tsconfig.json changes; it lives in node_modules/.cache/pipeline (never committed), each
// build in a folder of its own that cli.json names (a command still running from the last one can still load
// its chunks; the one a new build replaces is removed ten minutes later).
// "@dagger.io/dagger" is the light SDK's core (sdk-core.mjs); the light SDK (sdk-light.mjs, which adds the names
// the CLI never uses) is an entry of its own, sdk.mjs: TypeScript files loaded at run time get it (sdk-hooks.mjs),
// so they and the CLI share its chunks, one `dag` and one set of classes. Loaded as ~180 files of node_modules (the SDK, graphql) it took 0.1 to 0.2 s of each
// command's start, as one bundle 40 ms. What only the full SDK loads (a live engine session: OpenTelemetry,
// gRPC, the TypeScript compiler, the engine's download) stays in node_modules, loaded when it is used. Any failure returns undefined and the
// caller runs the sources through tsx instead, where a syntax error gets its full report.
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = dirname(here);
const dir = join(root, "node_modules", ".cache", "pipeline");
const stampFile = join(dir, "cli.json");
const KEEP_OLD_MS = 10 * 60 * 1000;
// This file too: a change to how the bundle is made makes a new one.
const ALWAYS = ["package.json", "package-lock.json", "tsconfig.json", "pipeline/bundle.mjs"];

function stamp(path) {
  try {
    const st = statSync(join(root, path));
    return `${st.size}:${st.mtimeMs}`;
  } catch {
    return "-";
  }
}

/** The bundle's URL when it is there and no input changed since it was built. */
export function fresh() {
  try {
    const { root: builtIn, entry, inputs } = JSON.parse(readFileSync(stampFile, "utf8"));
    // The bundle names files of this checkout by absolute path (scripts, the SDK's own URL): a moved checkout
    // needs a new one.
    if (builtIn !== root || typeof entry !== "string") return undefined;
    const out = join(dir, entry);
    statSync(out);
    for (const [path, was] of Object.entries(inputs)) if (stamp(path) !== was) return undefined;
    return pathToFileURL(out).href;
  } catch {
    return undefined;
  }
}

/** esbuild's options for a bundle written into `outdir`. */
function options(outdir) {
  const light = join(here, "sdk-light.mjs");
  const core = join(here, "sdk-core.mjs");
  return {
    entryPoints: { cli: join(here, "cli.ts"), sdk: light },
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outdir,
    outExtension: { ".js": ".mjs" },
    chunkNames: "chunk-[hash]",
    metafile: true,
    // The SDK adapter reads a lazy object's type from its class's name (sdk-adapter.ts sdkTypeName): kept as written.
    keepNames: true,
    logLevel: "silent",
    tsconfig: join(root, "tsconfig.json"),
    // Packages written as CommonJS call require(); an ES module has none of its own.
    banner: {
      js: "import { createRequire as __pipelineRequire } from 'node:module'; const require = __pipelineRequire(import.meta.url);",
    },
    external: ["@grpc/*", "@lifeomic/*", "@opentelemetry/*", "adm-zip", "env-paths", "execa", "node-fetch", "tar", "typescript"],
    plugins: [
      {
        name: "light-sdk",
        setup(b) {
          b.onResolve({ filter: /^@dagger\.io\/dagger$/ }, () => ({ path: core }));
          // The SDK's Context reaches graphql through computeQuery: loaded on a query's first use (sdk-query.mjs).
          b.onResolve({ filter: /[\\/]compute_query\.js$/ }, (args) =>
            /common[\\/]context\.js$/.test(args.importer) ? { path: join(here, "sdk-query.mjs") } : undefined,
          );
          // Files that find files beside them through import.meta.url keep their own URL, not the bundle's:
          // modules/scripts.ts (its scripts), the SDK (its version, from its package.json).
          b.onLoad({ filter: /(modules[\\/]scripts\.ts|node_modules[\\/].*\.m?js)$/ }, async (args) => {
            const text = readFileSync(args.path, "utf8");
            if (!text.includes("import.meta.url")) return undefined;
            const contents = text.replaceAll("import.meta.url", JSON.stringify(pathToFileURL(args.path).href));
            return { contents, loader: args.path.endsWith(".ts") ? "ts" : "js" };
          });
        },
      },
    ],
  };
}

async function build() {
  const started = Date.now();
  const esbuild = await import("esbuild");
  mkdirSync(dir, { recursive: true });
  const outdir = mkdtempSync(join(dir, "cli-"));
  // mkdtemp makes it private; the single-file bundle it replaces was readable by all, as the checkout is.
  chmodSync(outdir, 0o755);
  const out = join(outdir, "cli.mjs");
  const result = await esbuild.build(options(outdir)).catch((err) => {
    rmSync(outdir, { recursive: true, force: true });
    throw err;
  });
  const inputs = {};
  for (const path of [...Object.keys(result.metafile.inputs).map((p) => relative(root, join(process.cwd(), p))), ...ALWAYS]) {
    if (!path.includes("node_modules")) inputs[path] = stamp(path);
  }
  // A source saved while esbuild read it may not be in this bundle: leave the stamp stale, so the next run rebuilds.
  if (Object.values(inputs).some((was) => Number(was.split(":")[1]) >= started)) return pathToFileURL(out).href;
  // The bundle this one replaces is kept ten minutes from now, for a command still running from it.
  try {
    const last = JSON.parse(readFileSync(stampFile, "utf8")).entry;
    if (typeof last === "string") utimesSync(dirname(join(dir, last)), new Date(), new Date());
  } catch {
    // none, or already gone
  }
  const stampTmp = `${stampFile}.${process.pid}.tmp`;
  writeFileSync(stampTmp, JSON.stringify({ root, entry: relative(dir, out), inputs }, null, 1));
  renameSync(stampTmp, stampFile);
  removeOld(outdir);
  return pathToFileURL(out).href;
}

/**
 * Removes the bundles no stamp has named for ten minutes (the one a stamp stops naming is touched then), and
 * the single-file bundle of earlier versions.
 */
function removeOld(current) {
  const now = Date.now();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (path === current || !(name.startsWith("cli-") || name.startsWith("cli.mjs"))) continue;
    try {
      if (now - statSync(path).mtimeMs >= KEEP_OLD_MS || name.startsWith("cli.mjs"))
        rmSync(path, { recursive: true, force: true });
    } catch {
      // removed meanwhile by another run
    }
  }
}

/** The bundled CLI's URL, building it first when needed; undefined when it cannot be built. */
export async function bundledCli() {
  const url = fresh();
  if (url) return url;
  try {
    return await build();
  } catch {
    return undefined;
  }
}
