/**
 * The module's functions as plain data, for `pipeline call`: the Dagger SDK's own introspection (`scan()` of
 * the module's source, the same analysis the Dagger runtime does; it needs no engine) turned into a
 * `ModuleSpec`, and the pure helpers over it: parsing a `dagger call` command line into a `CallPlan`, and the
 * help text. The scan loads the TypeScript compiler and takes seconds, so its result is kept on disk, keyed
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

// ---------------------------------------------------------------------------------------------- the command line

/** An argument's value as given on the command line, typed; host paths stay paths until the call. */
export type ArgValue =
  | string
  | number
  | boolean
  | ArgValue[]
  | { host: "directory" | "file"; path: string }
  | { secret: "env" | "file" | "cmd"; ref: string };

/** A verb chained on a result: what `dagger call` offers on Container, Directory and File, as far as the CLI runs it. */
export type ChainStep =
  | { verb: "export"; path: string }
  | { verb: "publish"; address: string }
  | { verb: "stdout" | "contents" | "entries" | "sync" | "terminal" }
  | { verb: "file" | "directory"; path: string }
  | { verb: "with-exec"; args: string[] };

/** The flags of `pipeline call` itself (the CLI's, before or after the function's). */
export interface CallOptions {
  config?: string;
  engine?: "auto" | "dagger" | "buildkit";
  "buildkit-addr"?: string;
  progress?: "auto" | "plain" | "tty" | "quiet";
  force?: boolean;
  /** -o/--output PATH: save a Directory or File result there (dagger call's global flag). */
  output?: string;
  /** -m/--mod DIR: the module's folder (default: the nearest dagger.json). */
  mod?: string;
}

export type CallPlan =
  | { kind: "help"; text: string }
  | {
      kind: "call";
      options: CallOptions;
      constructorArgs: Record<string, ArgValue>;
      fn: FunctionSpec;
      args: Record<string, ArgValue>;
      chain: ChainStep[];
      /** The type the last step returns: what is printed or written. */
      result: ArgType;
    };

interface VerbSpec {
  verb: ChainStep["verb"];
  on: string[];
  description: string;
  args: ArgSpec[];
  returns: (on: string) => ArgType;
  /** It ends the chain (prints or writes something). */
  last: boolean;
}

const str = (name: string, description: string): ArgSpec => ({
  name,
  flag: name,
  description,
  type: { kind: "string" },
  optional: false,
});
const T = (kind: "string" | "void"): ArgType => ({ kind });
const O = (name: string): ArgType => ({ kind: "object", name });

/** The verbs, by the types they apply to. One entry per verb; call.ts runs each. */
export const VERBS: VerbSpec[] = [
  {
    verb: "export",
    on: ["Directory", "File", "Container"],
    description: "Write the result to a host path (a Container: an image tarball), atomically, checked as --out is",
    args: [str("path", "The host path to write to")],
    returns: () => T("string"),
    last: true,
  },
  {
    verb: "publish",
    on: ["Container"],
    description: "Push the image to a registry; prints the pushed reference with its digest",
    args: [str("address", "The image reference to push to (REGISTRY/NAME:TAG)")],
    returns: () => T("string"),
    last: true,
  },
  {
    verb: "stdout",
    on: ["Container"],
    description: "Run the container's last exec (or its default command when it ends in none) and print its standard output",
    args: [],
    returns: () => T("string"),
    last: true,
  },
  {
    verb: "terminal",
    on: ["Container"],
    description: "Open an interactive shell (sh) in the container",
    args: [],
    returns: () => O("Container"),
    last: true,
  },
  { verb: "contents", on: ["File"], description: "Print the file's contents", args: [], returns: () => T("string"), last: true },
  {
    verb: "entries",
    on: ["Directory"],
    description: "Print the names of the folder's entries (folders end in /)",
    args: [],
    returns: () => T("string"),
    last: true,
  },
  {
    verb: "sync",
    on: ["Directory", "File", "Container"],
    description: "Build the result, write nothing",
    args: [],
    returns: (on) => O(on),
    last: true,
  },
  {
    verb: "file",
    on: ["Directory", "Container"],
    description: "A file of the result",
    args: [str("path", "The file's path in the result")],
    returns: () => O("File"),
    last: false,
  },
  {
    verb: "directory",
    on: ["Directory", "Container"],
    description: "A folder of the result",
    args: [str("path", "The folder's path in the result")],
    returns: () => O("Directory"),
    last: false,
  },
  {
    verb: "with-exec",
    on: ["Container"],
    description: "Run a command in the container (chain stdout to print its output)",
    args: [
      {
        ...str("args", "The command and its arguments, comma-separated (--args=echo,hello)"),
        type: { kind: "list", of: { kind: "string" } },
      },
    ],
    returns: () => O("Container"),
    last: false,
  },
];

const GLOBAL_FLAGS: Array<{ flag: string; alias?: string; type: "string" | "boolean"; choices?: string[]; describe: string }> = [
  {
    flag: "config",
    type: "string",
    describe: "The project config (default: ./pipeline.yaml); passed to the module's constructor",
  },
  { flag: "mod", alias: "m", type: "string", describe: "The module's folder (default: the nearest folder holding dagger.json)" },
  {
    flag: "output",
    alias: "o",
    type: "string",
    describe: "Save a Directory or File result to this host path (as `export --path`)",
  },
  {
    flag: "engine",
    type: "string",
    choices: ["auto", "dagger", "buildkit"],
    describe: "Engine to run on (auto: Dagger when present, else BuildKit)",
  },
  { flag: "buildkit-addr", type: "string", describe: "A standalone buildkitd to drive with buildctl" },
  { flag: "progress", type: "string", choices: ["auto", "plain", "tty", "quiet"], describe: "Progress display" },
  { flag: "force", type: "boolean", describe: "Replace what is at an export path even when this tool did not write it" },
];

/** A type as `--help` shows it. */
export function typeName(t: ArgType): string {
  switch (t.kind) {
    case "list":
      return `${typeName(t.of)}[]`;
    case "object":
    case "enum":
      return t.name;
    case "integer":
      return "int";
    default:
      return t.kind;
  }
}

function flagUsage(a: ArgSpec): string {
  return a.type.kind === "boolean" ? `--${a.flag}` : `--${a.flag} ${typeName(a.type)}`;
}

function defaultText(a: ArgSpec): string {
  if (a.default !== undefined && a.default !== "" && !(Array.isArray(a.default) && a.default.length === 0))
    return ` (default ${JSON.stringify(a.default)})`;
  if (a.defaultPath) return ` (default: the module's ${a.defaultPath})`;
  return a.optional ? "" : " (required)";
}

function table(rows: Array<[string, string]>, indent = "  "): string {
  const width = Math.min(30, Math.max(...rows.map(([l]) => l.length)));
  return rows
    .map(([l, r]) => {
      const text = r.replace(/\s*\n\s*/g, " ");
      return l.length > width
        ? `${indent}${l}\n${indent}${" ".repeat(width + 2)}${text}`
        : `${indent}${l.padEnd(width)}  ${text}`;
    })
    .join("\n");
}

/** The first sentence (up to ". " or ": "), as dagger's function list shows it. */
const firstSentence = (s: string) => /^(.*?[.:])(\s|$)/s.exec(firstParagraph(s))?.[1]!.replace(/:$/, "") ?? firstParagraph(s);
const firstParagraph = (s: string) => s.split(/\n\s*\n/)[0]!.replace(/\s*\n\s*/g, " ");

/** `pipeline call --help`: the module's functions, each with the first paragraph of its JSDoc. */
export function moduleHelp(spec: ModuleSpec): string {
  const lines = [
    "Usage: pipeline call [options] FUNCTION [ARGUMENTS] [CHAIN ...]",
    "",
    `Call a function of the Dagger module '${spec.name}', as \`dagger call\` does, on the Dagger engine or BuildKit.`,
    ...(spec.description ? ["", firstParagraph(spec.description)] : []),
    "",
    "Functions:",
    table(spec.functions.map((f) => [f.command, firstSentence(f.description)])),
    "",
    "Chain on a result:",
    table(
      VERBS.map((v) => [
        [v.verb, ...v.args.map((a) => `--${a.flag} ${a.flag.toUpperCase()}`)].join(" "),
        `${v.description} (${v.on.join(", ")})`,
      ]),
    ),
    "",
    "Options:",
    table(GLOBAL_FLAGS.map((g) => [`${g.alias ? `-${g.alias}, ` : ""}--${g.flag}`, g.describe])),
  ];
  const extra = spec.constructorArgs.filter((a) => !PROJECT_ARGS.includes(a.name));
  if (extra.length)
    lines.push(
      "",
      "Module arguments (before FUNCTION):",
      table(extra.map((a) => [flagUsage(a), a.description + defaultText(a)])),
    );
  lines.push("", "Run `pipeline call FUNCTION --help` for a function's arguments.");
  return lines.join("\n") + "\n";
}

/** `pipeline call FUNCTION --help`: its description and arguments with their types and defaults, and what chains on its result. */
export function functionHelp(fn: FunctionSpec): string {
  const verbs = fn.returns.kind === "object" ? VERBS.filter((v) => v.on.includes((fn.returns as { name: string }).name)) : [];
  const lines = [
    `Usage: pipeline call ${fn.command}${fn.args.length ? " [arguments]" : ""}${verbs.length ? " [CHAIN ...]" : ""}`,
    "",
    fn.description.replace(/\s*\n\s*/g, " "),
  ];
  if (fn.args.length) lines.push("", "Arguments:", table(fn.args.map((a) => [flagUsage(a), a.description + defaultText(a)])));
  lines.push("", `Returns: ${typeName(fn.returns)}`);
  if (verbs.length)
    lines.push(
      "",
      "Chain on the result:",
      table(verbs.map((v) => [[v.verb, ...v.args.map(flagUsage)].join(" "), v.description])),
    );
  return lines.join("\n") + "\n";
}

/** The constructor arguments the CLI fills from the project, as loadProject does. */
export const PROJECT_ARGS = ["root", "config", "version", "revision", "epoch"];

/** Reads one typed value from its text. Throws UsageError naming the flag. */
export function parseValue(text: string, type: ArgType, flag: string, where: string): ArgValue {
  const bad = (expected: string) => new UsageError(`${where}: --${flag} expects ${expected}, got '${text}'`);
  switch (type.kind) {
    case "string":
      return text;
    case "integer":
      if (!/^[-+]?\d+$/.test(text.trim())) throw bad("a whole number");
      return Number(text);
    case "float":
      if (text.trim() === "" || !Number.isFinite(Number(text))) throw bad("a number");
      return Number(text);
    case "boolean":
      if (text !== "true" && text !== "false") throw bad("true or false");
      return text === "true";
    case "enum":
      if (type.values.length && !type.values.includes(text)) throw bad(`one of ${type.values.join(", ")}`);
      return text;
    case "list":
      return text === "" ? [] : splitList(text).map((t) => parseValue(t, type.of, flag, where));
    case "object":
      if (type.name === "Directory") return { host: "directory", path: text };
      if (type.name === "File") return { host: "file", path: text };
      if (type.name === "Secret") {
        const m = /^(env|file|cmd):(\/\/)?(.+)$/.exec(text);
        if (!m) throw bad("a secret as env:NAME, file:PATH or cmd:COMMAND");
        return { secret: m[1] as "env" | "file" | "cmd", ref: m[3]! };
      }
      throw new UsageError(
        `${where}: --${flag} takes a ${type.name}, which the command line cannot give (only Directory, File and Secret arguments)`,
      );
    default:
      throw bad("nothing");
  }
}

/** a,b,"c,d" -> [a, b, c,d] (cobra's string slices read CSV). */
export function splitList(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (const ch of text) {
    if (ch === '"') quoted = !quoted;
    else if (ch === "," && !quoted) {
      out.push(cur);
      cur = "";
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

interface FlagToken {
  name: string;
  /** The value written with = (`--avx=false`), else undefined. */
  inline?: string;
  negated: boolean;
}

function flagToken(tok: string): FlagToken | undefined {
  const m = /^--([^=]+)(?:=(.*))?$/s.exec(tok) ?? /^-([a-zA-Z])(?:=(.*))?$/s.exec(tok);
  if (!m) return undefined;
  const negated = m[2] === undefined && m[1]!.startsWith("no-");
  return { name: m[1]!, inline: m[2], negated };
}

/**
 * Reads the flags at `argv[i...]` that `args` (and, where given, the CLI's own options) accept, up to the
 * next word that is not a flag. Returns the values by argument name and the index after them.
 */
function readFlags(
  argv: string[],
  i: number,
  args: ArgSpec[],
  where: string,
  options: CallOptions,
  help: () => CallPlan,
): { values: Record<string, ArgValue>; next: number; help?: CallPlan } {
  const values: Record<string, ArgValue> = {};
  while (i < argv.length) {
    const tok = argv[i]!;
    if (tok === "--help" || tok === "-h") return { values, next: i + 1, help: help() };
    const f = flagToken(tok);
    if (!f) break;
    i++;
    let spec = args.find((a) => a.flag === f.name || a.name === f.name);
    let negated = false;
    if (!spec && f.negated) {
      spec = args.find((a) => a.type.kind === "boolean" && a.flag === f.name.slice(3));
      negated = spec !== undefined;
    }
    if (spec) {
      if (spec.type.kind === "boolean") {
        if (negated) {
          if (f.inline !== undefined) throw new UsageError(`${where}: --no-${spec.flag} takes no value; got '${tok}'`);
          values[spec.name] = false;
        } else values[spec.name] = f.inline === undefined ? true : parseValue(f.inline, spec.type, spec.flag, where);
        continue;
      }
      let text = f.inline;
      if (text === undefined) {
        if (i >= argv.length) throw new UsageError(`${where}: --${spec.flag} needs a value (${typeName(spec.type)})`);
        text = argv[i++]!;
      }
      const v = parseValue(text, spec.type, spec.flag, where);
      // A list flag given twice adds to it, as dagger call's do.
      values[spec.name] =
        spec.type.kind === "list" && Array.isArray(values[spec.name])
          ? [...(values[spec.name] as ArgValue[]), ...(v as ArgValue[])]
          : v;
      continue;
    }
    const g = GLOBAL_FLAGS.find((o) => o.flag === f.name || o.alias === f.name);
    if (g) {
      if (g.type === "boolean") {
        if (f.inline !== undefined && f.inline !== "true" && f.inline !== "false")
          throw new UsageError(`--${g.flag} is a switch: give --${g.flag} or --${g.flag}=false, not '${f.inline}'`);
        (options as Record<string, unknown>)[g.flag] = f.inline !== "false";
        continue;
      }
      let text = f.inline;
      if (text === undefined) {
        if (i >= argv.length) throw new UsageError(`--${g.flag} needs a value`);
        text = argv[i++]!;
      }
      if (g.choices && !g.choices.includes(text))
        throw new UsageError(`--${g.flag}: expected one of ${g.choices.join(", ")}, got '${text}'`);
      (options as Record<string, unknown>)[g.flag] = text;
      continue;
    }
    const known = args.map((a) => `--${a.flag}`);
    throw new UsageError(
      `${where}: unknown argument '${tok.replace(/=.*$/s, "")}'${known.length ? ` (its arguments: ${known.join(", ")})` : " (it takes no arguments)"}`,
    );
  }
  return { values, next: i };
}

function requireArgs(args: ArgSpec[], values: Record<string, ArgValue>, where: string): void {
  const missing = args.filter((a) => !a.optional && values[a.name] === undefined);
  if (missing.length) throw new UsageError(`${where}: missing ${missing.map((a) => `--${a.flag}`).join(", ")} (required)`);
}

/**
 * Parses `pipeline call`'s words (after `call`) as `dagger call` does: [module and CLI flags] FUNCTION [its
 * flags] [VERB [its flags]]... Pure: throws UsageError for an unknown function, argument or verb, a value of the
 * wrong type, a missing required argument; returns the help text when --help is asked for.
 */
export function parseCall(spec: ModuleSpec, argv: string[]): CallPlan {
  const options: CallOptions = {};
  const ctorArgs = spec.constructorArgs.filter((a) => !PROJECT_ARGS.includes(a.name));
  const moduleHelpPlan = (): CallPlan => ({ kind: "help", text: moduleHelp(spec) });
  const pre = readFlags(argv, 0, ctorArgs, "pipeline call", options, moduleHelpPlan);
  if (pre.help) return pre.help;
  let i = pre.next;
  const name = argv[i];
  if (name === undefined) {
    if (argv.length === 0) return moduleHelpPlan();
    throw new UsageError(`pipeline call: say which function to call (${spec.functions.map((f) => f.command).join(", ")})`);
  }
  const fn = spec.functions.find((f) => f.command === name || f.name === name);
  if (!fn)
    throw new UsageError(
      `unknown function '${name}' of module ${spec.name} (its functions: ${spec.functions.map((f) => f.command).join(", ")})`,
    );
  i++;
  const where = `call ${fn.command}`;
  const own = readFlags(argv, i, fn.args, where, options, () => ({ kind: "help", text: functionHelp(fn) }));
  if (own.help) return own.help;
  requireArgs(fn.args, own.values, where);
  i = own.next;
  const chain: ChainStep[] = [];
  let result = fn.returns;
  while (i < argv.length) {
    const word = argv[i]!;
    const on = result.kind === "object" ? result.name : typeName(result);
    const verb = VERBS.find((v) => v.verb === word);
    if (!verb || !verb.on.includes(on)) {
      const offered = VERBS.filter((v) => v.on.includes(on)).map((v) => v.verb);
      throw new UsageError(
        `${where}: ${verb ? `'${word}' does not apply to a ${on}` : `unknown function '${word}'`} (${offered.length ? `on a ${on}: ${offered.join(", ")}` : `a ${on} result takes nothing more`})`,
      );
    }
    if (chain.length && VERBS.find((v) => v.verb === chain[chain.length - 1]!.verb)!.last) {
      throw new UsageError(`${where}: nothing can follow '${chain[chain.length - 1]!.verb}'`);
    }
    i++;
    const vwhere = `${where} ... ${verb.verb}`;
    const vf = readFlags(argv, i, verb.args, vwhere, options, () => ({
      kind: "help",
      text: `Usage: pipeline call ... ${[verb.verb, ...verb.args.map(flagUsage)].join(" ")}\n\n${verb.description}\n`,
    }));
    if (vf.help) return vf.help;
    requireArgs(verb.args, vf.values, vwhere);
    i = vf.next;
    chain.push({ verb: verb.verb, ...vf.values } as ChainStep);
    result = verb.returns(on);
  }
  if (options.output !== undefined) {
    if (result.kind !== "object" || !["Directory", "File"].includes(result.name))
      throw new UsageError(`--output saves a Directory or File; this call returns ${typeName(result)}`);
    chain.push({ verb: "export", path: options.output });
  }
  return { kind: "call", options, constructorArgs: pre.values, fn, args: own.values, chain, result };
}
