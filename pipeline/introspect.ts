/**
 * The module's functions as plain data, for `pipeline call`: the Dagger SDK's own introspection (`scan()` of
 * the module's source, the same analysis the Dagger runtime does; it needs no engine) turned into a
 * `ModuleSpec` (pipeline/call-line.ts reads a `dagger call` command line against it and writes its help
 * text). The scan loads the TypeScript compiler and takes seconds, so its result is kept on disk, keyed
 * by the size and mtime of the module's source files and the SDK's version: a later command reads the file.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { UsageError } from "../modules/errors.ts";
import { stateDir, toolRoot } from "./paths.ts";

// ---------------------------------------------------------------------------------------------- the description

/** An argument's type, as `dagger call` reads its flag. */
export type ArgType =
  | { kind: "string" | "integer" | "float" | "boolean" | "void" }
  | { kind: "list"; of: ArgType }
  /** Directory, File, Container, Secret, ...: only Directory, File and Secret can be given on the command line. */
  | { kind: "object"; name: string }
  | { kind: "enum"; name: string; values: string[] };

export interface ArgSpec {
  /** The name in the source (camelCase). */
  name: string;
  /** The flag: kebab-case, without the dashes. */
  flag: string;
  description: string;
  type: ArgType;
  /** Optional: it has a default, or may be left out (`source?: Directory`). */
  optional: boolean;
  /** The default as the source writes it (JSON), when there is one. */
  default?: unknown;
  /** `@argument({ defaultPath })`: a Directory/File argument left out is this path of the module's context. */
  defaultPath?: string;
}

export interface FunctionSpec {
  name: string;
  /** The command: kebab-case. */
  command: string;
  description: string;
  args: ArgSpec[];
  returns: ArgType;
}

export interface ModuleSpec {
  /** The module's name (dagger.json). */
  name: string;
  /** The main object's class name (PascalCase of the name). */
  className: string;
  description: string;
  constructorArgs: ArgSpec[];
  functions: FunctionSpec[];
}

/** build-image -> buildImage */
export const camel = (s: string) => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** buildImage -> build-image, k8s -> k8s, imageTag -> image-tag */
export const kebab = (s: string) =>
  s
    .replace(/([a-z0-9])([A-Z])/g, "$1-$2")
    .replace(/([A-Z])([A-Z][a-z])/g, "$1-$2")
    .toLowerCase();
/** my-module -> MyModule */
export const pascal = (s: string) =>
  s
    .split(/[-_\s]+/)
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join("");

interface ScannedType {
  kind: string;
  name?: string;
  typeDef?: ScannedType;
}
interface ScannedArg {
  name: string;
  description?: string;
  type: ScannedType;
  isOptional?: boolean;
  isNullable?: boolean;
  defaultValue?: unknown;
  defaultPath?: string;
}
interface ScannedFunction {
  name: string;
  alias?: string;
  description?: string;
  arguments: Record<string, ScannedArg>;
  returnType: ScannedType;
}
interface ScannedModule {
  name: string;
  description?: string;
  objects: Record<
    string,
    {
      name: string;
      description?: string;
      constructor?: { arguments: Record<string, ScannedArg> };
      methods: Record<string, ScannedFunction>;
    }
  >;
  enums?: Record<string, { name: string; values?: Record<string, { name: string; value?: string }> }>;
}

function argType(t: ScannedType, enums: ScannedModule["enums"] = {}): ArgType {
  switch (t.kind) {
    case "STRING_KIND":
      return { kind: "string" };
    case "INTEGER_KIND":
      return { kind: "integer" };
    case "FLOAT_KIND":
      return { kind: "float" };
    case "BOOLEAN_KIND":
      return { kind: "boolean" };
    case "VOID_KIND":
      return { kind: "void" };
    case "LIST_KIND":
      return { kind: "list", of: argType(t.typeDef ?? { kind: "STRING_KIND" }, enums) };
    case "ENUM_KIND": {
      const e = enums[t.name ?? ""];
      return { kind: "enum", name: t.name ?? "", values: Object.values(e?.values ?? {}).map((v) => v.value ?? v.name) };
    }
    default:
      return { kind: "object", name: t.name ?? t.kind };
  }
}

function argSpec(a: ScannedArg, enums: ScannedModule["enums"]): ArgSpec {
  const hasDefault = a.defaultValue !== undefined;
  return {
    name: a.name,
    flag: kebab(a.name),
    description: a.description ?? "",
    type: argType(a.type, enums),
    optional: Boolean(a.isOptional || a.isNullable || hasDefault || a.defaultPath),
    ...(hasDefault ? { default: a.defaultValue } : {}),
    ...(a.defaultPath ? { defaultPath: a.defaultPath } : {}),
  };
}

/** The plain description of a scanned module (the SDK's `scan()` result, as JSON). Pure. */
export function describeModule(scanned: ScannedModule, moduleName: string): ModuleSpec {
  const className = pascal(moduleName);
  const main = scanned.objects[className] ?? Object.values(scanned.objects)[0];
  if (!main) throw new UsageError(`the module ${moduleName} has no object with @object() (expected class ${className})`);
  const enums = scanned.enums ?? {};
  return {
    name: moduleName,
    className: main.name,
    description: (scanned.description || main.description || "").trim(),
    // A class without a constructor of its own has only Object's (whose `arguments` strict mode forbids).
    constructorArgs: Object.values((Object.hasOwn(main, "constructor") ? main.constructor?.arguments : undefined) ?? {}).map(
      (a) => argSpec(a, enums),
    ),
    functions: Object.values(main.methods).map((f) => ({
      name: f.name,
      command: kebab(f.alias ?? f.name),
      description: (f.description ?? "").trim(),
      args: Object.values(f.arguments).map((a) => argSpec(a, enums)),
      returns: argType(f.returnType, enums),
    })),
  };
}

// ---------------------------------------------------------------------------------------------- the scan, cached

export interface ModuleLocation {
  /** The folder holding dagger.json. */
  dir: string;
  name: string;
  /** The folder of the module's TypeScript (dagger.json's source, then src/). */
  sourceDir: string;
  /** Its entry file (src/index.ts). */
  entry: string;
}

/** The Dagger module at `dir` or the nearest folder above it holding a dagger.json; undefined when there is none. */
export function findModule(dir: string): ModuleLocation | undefined {
  for (let d = resolve(dir); ; d = dirname(d)) {
    const file = join(d, "dagger.json");
    if (existsSync(file)) {
      let json: { name?: string; source?: string };
      try {
        json = JSON.parse(readFileSync(file, "utf8"));
      } catch (err) {
        throw new UsageError(`${file}: not valid JSON (${(err as Error).message})`);
      }
      if (!json.name) throw new UsageError(`${file}: at 'name': expected the module's name`);
      const sourceDir = join(d, json.source ?? ".", "src");
      return { dir: d, name: json.name, sourceDir, entry: join(sourceDir, "index.ts") };
    }
    if (dirname(d) === d) return undefined;
  }
}

/** The SDK package's folder (the introspector and its client declarations live there). */
function sdkDir(): string {
  const main = createRequire(import.meta.url).resolve("@dagger.io/dagger");
  return resolve(dirname(main), "..", "..");
}

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === "node_modules" || e.name.startsWith(".")) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...tsFiles(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out.sort();
}

/** What the cached scan is keyed by: every source file's path, size and mtime, dagger.json's, and the SDK's version. */
export function scanKey(mod: ModuleLocation, sdk = sdkDir()): string {
  const stat = (p: string) => {
    const st = statSync(p);
    return `${relative(mod.dir, p)}:${st.size}:${st.mtimeMs}`;
  };
  const sdkVersion = (JSON.parse(readFileSync(join(sdk, "package.json"), "utf8")) as { version: string }).version;
  return [`sdk:${sdkVersion}`, stat(join(mod.dir, "dagger.json")), ...tsFiles(mod.sourceDir).map(stat)].join("\n");
}

/** Runs the SDK's introspection on the module's source (seconds: it loads the TypeScript compiler). */
export async function scanSource(mod: ModuleLocation): Promise<ScannedModule> {
  const sdk = sdkDir();
  // The introspector resolves the SDK's types from the generated client the Dagger runtime writes
  // (sdk/src/api/client.gen.ts); without an engine the npm package's declarations of it stand in.
  const tmp = mkdtempSync(join(tmpdir(), "pipeline-scan-"));
  try {
    const clientGen = join(tmp, "client.gen.ts");
    copyFileSync(join(sdk, "dist", "src", "api", "client.gen.d.ts"), clientGen);
    const { scan } = (await import(pathToFileURL(join(sdk, "dist", "src", "module", "introspector", "index.js")).href)) as {
      scan: (files: string[], name: string, loadModule: boolean) => Promise<unknown>;
    };
    // Read from the source alone (the compiler's AST): the module is not imported, so nothing of it runs.
    const scanned = await scan([...tsFiles(mod.sourceDir), clientGen], mod.name, false);
    return JSON.parse(JSON.stringify(scanned)) as ScannedModule;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Where a module's scan is kept: this tool's own module next to the CLI's bundle (node_modules/.cache/pipeline,
 * shared by every engine and PIPELINE_HOME), any other module in the state folder, one file per module folder.
 */
export function scanCacheFile(mod: ModuleLocation, env: NodeJS.ProcessEnv = process.env): string {
  const own = toolRoot();
  if (own && resolve(own) === resolve(mod.dir)) return join(own, "node_modules", ".cache", "pipeline", "module-scan.json");
  return join(stateDir(env), "scans", `${createHash("sha256").update(mod.dir).digest("hex").slice(0, 16)}.json`);
}

/** This tool's own module (src/index.ts: the stages); undefined when the CLI does not run from its folder. */
export function toolModule(): ModuleLocation | undefined {
  const own = toolRoot();
  return own ? findModule(own) : undefined;
}

/** The module's description: from the cache when no source file changed since the last scan, else scanned now. */
export async function loadModuleSpec(mod: ModuleLocation, opts: { say?: (line: string) => void } = {}): Promise<ModuleSpec> {
  if (!existsSync(mod.entry))
    throw new UsageError(`${mod.entry}: no such file; a TypeScript Dagger module keeps its main object in src/index.ts`);
  const key = scanKey(mod);
  const file = scanCacheFile(mod);
  try {
    const cached = JSON.parse(readFileSync(file, "utf8")) as { key: string; spec: ModuleSpec };
    if (cached.key === key) return cached.spec;
  } catch {
    // no cache yet, or an unreadable one: scan
  }
  opts.say?.(
    `pipeline: reading the module's functions from ${relative(process.cwd(), mod.sourceDir) || "."} (once per source change)`,
  );
  let scanned: ScannedModule;
  try {
    scanned = await scanSource(mod);
  } catch (err) {
    throw new UsageError(`${mod.sourceDir}: the Dagger SDK could not read the module: ${(err as Error).message.split("\n")[0]}`);
  }
  const spec = describeModule(scanned, mod.name);
  try {
    mkdirSync(dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ key, spec }));
    renameSync(tmp, file);
  } catch {
    // a read-only state folder: scan again next time
  }
  return spec;
}
