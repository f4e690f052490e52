/**
 * A module function's arguments as CLI options. The stage commands, `plan`, `release` and `k8s` take their
 * flags from the module's own introspection (introspect.ts), so a switch is declared once: in the function's
 * signature (its type and default) and its JSDoc (its help text). Pure, apart from yargs.
 */
import type { Argv, Options } from "yargs";
import type { ArgSpec, FunctionSpec, ModuleSpec } from "./introspect.ts";
import { UsageError } from "../modules/errors.ts";

/** The function of the module by its name in the source (camelCase); a usage error naming the module when missing. */
export function functionNamed(spec: ModuleSpec, name: string): FunctionSpec {
  const fn = spec.functions.find((f) => f.name === name);
  if (!fn)
    throw new UsageError(
      `the module ${spec.name} has no function ${name} (its functions: ${spec.functions.map((f) => f.name).join(", ")})`,
    );
  return fn;
}

/** The first sentence of a JSDoc description, for a command's one-line summary. */
export function summary(description: string): string {
  const para = description
    .split(/\n\s*\n/)[0]!
    .replace(/\s+/g, " ")
    .trim();
  const m = /^(.+?[.;])(\s|$)/.exec(para);
  return (m ? m[1]! : para).replace(/[.;]$/, "");
}

/** Whether the help text already says what happens when the flag is left out. */
const explainsDefault = (text: string) => /\(default:|\bdefault\b.*\)/i.test(text);

/**
 * The yargs option of one argument. Its default is shown unless the description already says what leaving it
 * out means (`(default: the config's ...)`); either way a flag left out gets the function's own default.
 * Directory and File arguments are host paths. Undefined for what a command line cannot give (a Container).
 */
export function argOption(a: ArgSpec, describe = a.description): Options | undefined {
  const showDefault = a.default !== undefined && a.default !== "" && !explainsDefault(describe);
  const required = !a.optional ? { demandOption: true } : {};
  switch (a.type.kind) {
    case "boolean":
      return {
        type: "boolean",
        default: a.default === true,
        describe: a.default === true ? `${describe} (--no-${a.flag}: false)` : describe,
      };
    case "string":
      return { type: "string", ...(showDefault ? { default: a.default } : {}), describe, ...required };
    case "integer":
    case "float":
      return { type: "number", ...(showDefault ? { default: a.default } : {}), describe, ...required };
    case "enum":
      return { choices: a.type.values, ...(showDefault ? { default: a.default } : {}), describe, ...required };
    case "list":
      return { type: "string", array: true, describe, ...required };
    case "object":
      if (a.type.name === "Directory" || a.type.name === "File")
        return { type: "string", describe: `${describe} (a host ${a.type.name === "File" ? "file" : "folder"})`, ...required };
      return undefined;
    default:
      return undefined;
  }
}

/** The options of a function's arguments (less `skip`), with a check of the numbers and switches given. */
export function functionOptions<T>(y: Argv<T>, fn: FunctionSpec, skip: string[] = []): Argv<T> {
  let out: Argv<any> = y;
  for (const a of fn.args) {
    if (skip.includes(a.name)) continue;
    const o = argOption(a);
    if (o) out = out.option(a.flag, o);
  }
  return out.check((argv: Record<string, unknown>) => {
    const bad = badArgValue(fn, argv, skip);
    if (bad) throw new UsageError(bad);
    return true;
  }) as Argv<T>;
}

/** What was typed after `--flag` (or `--flag=`), for a message: yargs has already turned it into NaN. */
function typed(flag: string, args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${flag}`) return args[i + 1];
    if (args[i]!.startsWith(`--${flag}=`)) return args[i]!.slice(flag.length + 3);
  }
  return undefined;
}

/** The message for a number flag given something else (yargs reads `--workers x` as NaN), or undefined. */
export function badArgValue(
  fn: FunctionSpec,
  argv: Record<string, unknown>,
  skip: string[] = [],
  args: string[] = process.argv.slice(2),
): string | undefined {
  for (const a of fn.args) {
    if (skip.includes(a.name) || (a.type.kind !== "integer" && a.type.kind !== "float")) continue;
    const v = argv[a.flag];
    if (v === undefined) continue;
    if (typeof v !== "number" || Number.isNaN(v)) return `--${a.flag} takes a number, got '${typed(a.flag, args) ?? String(v)}'`;
    if (a.type.kind === "integer" && !Number.isInteger(v)) return `--${a.flag} takes a whole number, got ${v}`;
  }
  return undefined;
}

/** Every boolean argument's flag: for the check that refuses `--avx=maybe`. */
export function switchFlags(fns: FunctionSpec[]): string[] {
  return [...new Set(fns.flatMap((f) => f.args.filter((a) => a.type.kind === "boolean").map((a) => a.flag)))];
}

/**
 * The method's arguments in order from the parsed flags: `given` first (the source tree the CLI loaded), then
 * the flag, then the function's own default. Trailing arguments left out stay out, so the method's defaults apply.
 */
export function callArguments(fn: FunctionSpec, argv: Record<string, unknown>, given: Record<string, unknown> = {}): unknown[] {
  const args = fn.args.map((a) => {
    if (a.name in given) return given[a.name];
    const v = argv[a.name] ?? argv[a.flag];
    if (v !== undefined) return v;
    return a.type.kind === "object" ? undefined : a.default;
  });
  while (args.length && args[args.length - 1] === undefined) args.pop();
  return args;
}
