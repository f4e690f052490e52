/**
 * A `dagger call` command line read against the module's description (pipeline/introspect.ts): the flags and
 * values of a function, and the verbs chained on its result and the CLI's own flags (pipeline/call-verbs.ts,
 * with the help text). Pure.
 */
import { UsageError } from "../modules/errors.ts";
import type { ArgSpec, ArgType, FunctionSpec, ModuleSpec } from "./introspect.ts";
import {
  type ChainStep,
  flagUsage,
  functionHelp,
  GLOBAL_FLAGS,
  moduleHelp,
  PROJECT_ARGS,
  typeName,
  VERBS,
} from "./call-verbs.ts";

export { type ChainStep, PROJECT_ARGS } from "./call-verbs.ts";

/** An argument's value as given on the command line, typed; host paths stay paths until the call. */
export type ArgValue =
  | string
  | number
  | boolean
  | ArgValue[]
  | { host: "directory" | "file"; path: string }
  | { secret: "env" | "file" | "cmd"; ref: string };

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
