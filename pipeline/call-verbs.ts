/**
 * What a `pipeline call` line may say besides the function's own flags: the verbs chained on a result
 * (`export --path`, `stdout`, ...), the CLI's own flags, and the help text of the module and of each function
 * that lists them. Pure; pipeline/call-line.ts reads a command line with them.
 */
import type { ArgSpec, ArgType, FunctionSpec, ModuleSpec } from "./introspect.ts";

/** A verb chained on a result: what `dagger call` offers on Container, Directory and File, as far as the CLI runs it. */
export type ChainStep =
  | { verb: "export"; path: string }
  | { verb: "publish"; address: string }
  | { verb: "stdout" | "contents" | "entries" | "sync" | "terminal" }
  | { verb: "file" | "directory"; path: string }
  | { verb: "with-exec"; args: string[] };

/** The constructor arguments the CLI fills from the project, as loadProject does. */
export const PROJECT_ARGS = ["root", "config", "version", "revision", "epoch", "snapshot"];

export interface VerbSpec {
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

export const GLOBAL_FLAGS: Array<{
  flag: string;
  alias?: string;
  type: "string" | "boolean";
  choices?: string[];
  describe: string;
}> = [
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

export function flagUsage(a: ArgSpec): string {
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
