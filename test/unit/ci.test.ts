/**
 * The ready-to-use CI files (examples/ci/): they parse, and every `pipeline ...` command they run is one the
 * README documents and the CLI accepts; every `dagger call` line is one `pipeline call` parses against the module.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { findModule, loadModuleSpec } from "../../pipeline/introspect.ts";
import { parseCall } from "../../pipeline/call-line.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const FILES = ["examples/ci/github-actions.yml", "examples/ci/gitlab-ci.yml"];
const README = readFileSync(join(ROOT, "README.md"), "utf8");
/** Commands whose first word is a group: the second word names the command (`engine up`, `call image-tag`). */
const GROUPS = ["engine", "call", "cache"];

/** Every shell line a workflow runs: GitHub's `run:` and GitLab's `script`/`before_script` entries. */
function shellLines(node: unknown, key = ""): string[] {
  if (typeof node === "string") return ["run", "script", "before_script", "after_script"].includes(key) ? node.split("\n") : [];
  if (Array.isArray(node)) return node.flatMap((n) => shellLines(n, key));
  if (node && typeof node === "object") return Object.entries(node).flatMap(([k, v]) => shellLines(v, k));
  return [];
}

/** The commands of a shell line (split at ;, &&, ||, then, else), each as words; quotes and $VARS kept as written. */
const commands = (line: string) =>
  line
    .split(/;|&&|\|\||\bthen\b|\belse\b/)
    .map((c) => c.trim().split(/\s+/).filter(Boolean))
    .filter((c) => c.length);

function pipelineCommands(file: string): string[][] {
  const doc = parse(readFileSync(join(ROOT, file), "utf8"));
  return shellLines(doc)
    .flatMap(commands)
    .flatMap((words) => {
      const at = words[0] === "npx" && words[1] === "pipeline" ? 2 : words[0] === "pipeline" ? 1 : -1;
      return at < 0 ? [] : [words.slice(at)];
    });
}

function daggerCalls(file: string): string[][] {
  const doc = parse(readFileSync(join(ROOT, file), "utf8"));
  return shellLines(doc)
    .flatMap(commands)
    .filter((w) => w[0] === "dagger" && w[1] === "call")
    .map((w) => w.slice(2));
}

const name = (args: string[]) => (GROUPS.includes(args[0]!) ? args.slice(0, 2) : args.slice(0, 1));

for (const file of FILES) {
  test(`${file} runs pipeline commands the README documents and the CLI accepts`, () => {
    const cmds = pipelineCommands(file);
    assert.ok(cmds.length >= 4, `${file}: found ${cmds.length} pipeline commands`);
    for (const args of cmds) {
      const words = name(args);
      assert.ok(README.includes(`pipeline ${words.join(" ")}`), `${file}: 'pipeline ${words.join(" ")}' is not in the README`);
      const r = spawnSync(process.execPath, [join(ROOT, "pipeline", "bin.mjs"), ...words, "--help"], {
        cwd: ROOT,
        encoding: "utf8",
      });
      assert.is(r.status, 0, `${file}: pipeline ${words.join(" ")} --help exited ${r.status}: ${r.stderr}`);
    }
  });

  test(`${file} runs dagger call lines that pipeline call accepts, with functions the README shows`, async () => {
    const spec = await loadModuleSpec(findModule(ROOT)!);
    const calls = daggerCalls(file);
    assert.ok(calls.length >= 2);
    for (const args of calls) {
      const plan = parseCall(
        spec,
        args.map((a) => a.replace(/^"\$(\w+)"$/, "$1")),
      );
      assert.is(plan.kind, "call", args.join(" "));
      assert.ok(README.includes(`call ${args[0]}`), `${file}: 'dagger call ${args[0]}' is not in the README`);
    }
  });
}

test.run();
