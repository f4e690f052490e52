import { test } from "uvu";
import * as assert from "uvu/assert";
import { readFileSync } from "node:fs";
import { OPERATIONS, planGraph, SUPPORTED } from "../../pipeline/plan.ts";
import type { GraphCall, GraphNode } from "../../pipeline/sdk-adapter.ts";
import { UnsupportedOperation } from "../../modules/errors.ts";

/** The table's operations, as "Object.method". */
const tableOperations = OPERATIONS.flatMap((o) => Object.keys(o.operations).map((name) => `${o.object}.${name}`)).sort();

/** How the README's "Supported on BuildKit:" paragraph names each group of operations. */
const README_OBJECTS: Record<string, string> = {
  dag: "Query",
  "dag.host()": "Host",
  Container: "Container",
  Directory: "Directory",
  File: "File",
};

/**
 * The README's list: "Supported on BuildKit: on `dag`: `a`, `b`; on a Container: `c` (a note), ...". Notes in
 * parentheses are not operations.
 */
function readmeOperations(): string[] {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const paragraph = /Supported on BuildKit:([\s\S]*?)\. Anything else/.exec(readme)?.[1];
  assert.ok(paragraph, "README.md has a 'Supported on BuildKit: ... . Anything else' paragraph");
  return paragraph!
    .replace(/\s+/g, " ")
    .split(";")
    .flatMap((group) => {
      const m = /^\s*on (?:an? )?`?([\w.()]+?)`?: (.*)$/.exec(group);
      assert.ok(m, `a group of the README's list reads 'on OBJECT: ...': '${group.trim()}'`);
      const object = README_OBJECTS[m![1]!];
      assert.ok(object, `the README's list names a known object: '${m![1]}'`);
      let items = m![2]!;
      while (/\([^()]*\)/.test(items)) items = items.replace(/\([^()]*\)/g, "");
      return [...items.matchAll(/`(\w+)`/g)].map((x) => `${object}.${x[1]}`);
    })
    .sort();
}

test("the README's list of supported operations is the operation table's", () => {
  const readme = readmeOperations();
  const missing = tableOperations.filter((op) => !readme.includes(op));
  const extra = readme.filter((op) => !tableOperations.includes(op));
  assert.equal({ missing, extra }, { missing: [], extra: [] }, "README.md lists what the table supports, no more and no less");
  assert.equal(readme, tableOperations);
});

test("SUPPORTED is derived from the table", () => {
  for (const o of OPERATIONS) assert.equal(SUPPORTED[o.object], Object.keys(o.operations));
  assert.ok(SUPPORTED.Container!.includes("withExec"));
  assert.equal(SUPPORTED.File, []);
});

/** A plain graph: the calls that lead to an object of `object`, then `call`. */
function graphWith(object: string, call: GraphCall): GraphNode {
  const lead: Record<string, GraphCall[]> = {
    Query: [],
    Host: [{ name: "host", args: {} }],
    Container: [{ name: "container", args: {} }],
    Directory: [{ name: "directory", args: {} }],
  };
  return { type: object, calls: [...lead[object]!, call] };
}

test("every operation in the table refuses an option it does not declare, naming the call and the option", () => {
  let checked = 0;
  for (const o of OPERATIONS) {
    if (!["Query", "Host", "Container", "Directory"].includes(o.object)) continue;
    for (const name of Object.keys(o.operations)) {
      assert.throws(
        () => planGraph(graphWith(o.object, { name, args: { notAnOption: 1 } })),
        (err: Error) => err instanceof UnsupportedOperation && err.message.includes(`${name}(notAnOption)`),
        `${o.object}.${name} refuses an undeclared option`,
      );
      checked++;
    }
  }
  assert.is(checked, tableOperations.length);
});

test("an operation missing from the table is refused by its object's name for it", () => {
  const refused = (object: string, name: string): string => {
    try {
      planGraph(graphWith(object, { name, args: {} }));
    } catch (err) {
      assert.instance(err, UnsupportedOperation);
      return (err as Error).message;
    }
    throw new Error(`${object}.${name} should be refused`);
  };
  assert.match(refused("Query", "git"), "unsupported operation: dag.git()");
  assert.match(refused("Host", "setSecretFile"), "unsupported operation: host().setSecretFile");
  assert.match(refused("Container", "withServiceBinding"), "unsupported operation: Container.withServiceBinding");
  assert.match(refused("Directory", "withTimestamps"), "unsupported operation: Directory.withTimestamps");
});

test.run();
