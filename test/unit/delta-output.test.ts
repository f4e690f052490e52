/**
 * The incremental export: the old output's listing (as GNU find prints it), the folder made from what was
 * sent plus hard links, and the plan's delta step (plan/output.ts withDeltaTarget).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { applyDelta, listOutput } from "../../pipeline/delta-output.ts";
import { MARKER } from "../../pipeline/outputs.ts";
import { folderDigest, pathDigest, statEntry } from "../../pipeline/uptodate.mjs";
import { DELTA_STAGE, deltaScript, deltaTools, HAVE_FILE, withDeltaTarget } from "../../pipeline/plan/output.ts";
import type { Plan } from "../../pipeline/plan.ts";
import { scratchDir } from "../support/scratch.ts";

const tmp = scratchDir;

test("an earlier output's listing is GNU find's, record for record (the delta stage compares the two)", async () => {
  const dir = tmp();
  assert.is(await listOutput(dir), undefined, "a folder without the marker is no earlier output");
  writeFileSync(join(dir, MARKER), "{}\n");
  mkdirSync(join(dir, "sub dir"));
  writeFileSync(join(dir, "sub dir", "a.o"), "object");
  writeFileSync(join(dir, "run"), "#!/bin/sh\n", { mode: 0o755 });
  writeFileSync(join(dir, "old"), "x");
  spawnSync("touch", ["-d", "@1", join(dir, "old")]);
  spawnSync("touch", ["-d", "2026-11-22 10:00:00.123456789", join(dir, "run")]);
  symlinkSync("run", join(dir, "link"));
  const find = spawnSync(
    "sh",
    ["-c", `cd "$1" && find . -mindepth 1 -type f ! -path ./${MARKER} -printf '%y %m %s %T@ %P\\0'`, "sh", dir],
    {
      encoding: "utf8",
    },
  ).stdout;
  const sorted = (records: string) => records.split("\0").filter(Boolean).sort();
  assert.equal(sorted((await listOutput(dir))!), sorted(find));
  assert.is(sorted(find).length, 3, "regular files only, not the marker, folders or links");
});

test("an incremental export makes the folder from what was sent and hard links to the old folder's other files", async () => {
  const root = tmp();
  const old = join(root, "old");
  mkdirSync(join(old, "lib"), { recursive: true });
  writeFileSync(join(old, "lib", "same.o"), "same");
  writeFileSync(join(old, "gone.o"), "gone");
  const delta = join(root, "delta");
  mkdirSync(join(delta, "files", "lib"), { recursive: true });
  writeFileSync(join(delta, "files", "lib", "new.o"), "new");
  symlinkSync("new.o", join(delta, "files", "lib", "alias"));
  writeFileSync(
    join(delta, "all"),
    ["d 755 lib", "f 644 lib/same.o", "f 644 lib/new.o", "l 777 lib/alias", "d 700 private", ""].join("\0"),
  );
  const out = join(root, "out");
  mkdirSync(out);
  assert.equal(await applyDelta(delta, old, out), { sent: 2, kept: 1 });
  assert.equal(readdirSync(out).sort(), ["lib", "private"], "what the result no longer has is not there");
  assert.is(statSync(join(out, "lib", "same.o")).ino, statSync(join(old, "lib", "same.o")).ino, "an unchanged file: a hard link");
  assert.is(readFileSync(join(out, "lib", "alias"), "utf8"), "new");
  assert.is(statSync(join(out, "private")).mode & 0o777, 0o700);
  writeFileSync(join(delta, "all"), "f 644 lib/missing.o\0");
  const again = join(root, "again");
  mkdirSync(again);
  const failed = await applyDelta(delta, old, again).then(
    () => false,
    () => true,
  );
  assert.ok(failed, "a file in neither: an error (the runner exports whole)");
  // A link is always sent: one that was not is never taken from the old folder.
  symlinkSync("same.o", join(old, "lib", "old-link"));
  writeFileSync(join(delta, "all"), "d 755 lib\0l 777 lib/old-link\0");
  const third = join(root, "third");
  mkdirSync(third);
  assert.ok(
    await applyDelta(delta, old, third).then(
      () => false,
      () => true,
    ),
    "a link not sent: an error",
  );
});

test("the delta step's script, run on a result: the new and changed files, every link and special file; the folder made again from it is the result", async () => {
  const root = tmp();
  const r = join(root, "r");
  mkdirSync(join(r, "sub", "deep"), { recursive: true });
  mkdirSync(join(r, "sp ace"));
  writeFileSync(join(r, "same.o"), "same");
  writeFileSync(join(r, "sub", "changed.o"), "new bytes");
  writeFileSync(join(r, "sp ace", "c d"), "spaces");
  writeFileSync(join(r, "sub", "deep", "new\nline"), "odd");
  symlinkSync("same.o", join(r, "link"));
  spawnSync("mkfifo", [join(r, "sub", "fifo")]);
  // The old output: the same files but sub/changed.o, whose record differs; sub/deep/new\nline is new.
  const old = join(root, "old");
  spawnSync("cp", ["-a", r, old]);
  rmSync(join(old, "sub", "deep", "new\nline"));
  writeFileSync(join(old, "sub", "changed.o"), "old");
  writeFileSync(join(old, MARKER), "{}\n");
  writeFileSync(join(root, "have"), (await listOutput(old))!);
  const d = join(root, "d");
  const run = spawnSync("sh", ["-c", deltaScript(r, d, false, join(root, "have"))], { encoding: "utf8" });
  assert.is(run.status, 0, run.stderr);
  const sent = spawnSync("find", [".", "-mindepth", "1", "!", "-type", "d", "-print0"], {
    cwd: join(d, "files"),
    encoding: "utf8",
  });
  assert.equal(sent.stdout.split("\0").filter(Boolean).sort(), [
    "./link",
    "./sub/changed.o",
    "./sub/deep/new\nline",
    "./sub/fifo",
  ]);
  const out = join(root, "out");
  mkdirSync(out);
  const made = await applyDelta(d, old, out, readFileSync(join(root, "have"), "utf8"));
  assert.equal({ sent: made.sent, kept: made.kept }, { sent: 4, kept: 2 });
  // What it made, as the up-to-date stamp records it without a walk: the walk's digest.
  writeFileSync(join(out, MARKER), "{}\n");
  const marker = statEntry(MARKER, lstatSync(join(out, MARKER), { bigint: true }), join(out, MARKER));
  assert.is(folderDigest([...made.entries!, marker]), pathDigest(out));
  const listing = (dir: string) =>
    spawnSync("sh", ["-c", `cd "$1" && find . ! -name ${MARKER} -printf '%y %m %s %l %p\\n' | sort`, "sh", dir], {
      encoding: "utf8",
    }).stdout;
  assert.is(listing(out), listing(r));
});

test("the delta is made by the last root command of the stage whose folder the target copies, or continues that stage, when it is built on the tools image; else the result is mounted into a stage of it", () => {
  const tools = "pipeline-seed/debian:bookworm";
  const plan: Plan = {
    stages: [
      { name: "s0", base: tools, label: "from debian:bookworm", steps: [] },
      { name: "s1", base: "s0", label: "s0, more", steps: [] },
      { name: "out", base: "scratch", label: "output", steps: [{ kind: "copy", from: "s1", src: "/src/build/", dest: "/" }] },
    ],
    target: "out",
    output: { kind: "directory" },
    context: [],
    secrets: [],
  };
  assert.is(deltaTools(plan), tools);
  assert.is(deltaTools({ ...plan, stages: [{ name: "s0", base: "alpine", label: "from alpine", steps: [] }] }), undefined);
  const d = withDeltaTarget(plan, tools, "f 644 1 1.0000000000 a\0");
  assert.is.not(d.target, "out");
  assert.equal(d.context.at(-1), { kind: "content", dest: HAVE_FILE, contents: "f 644 1 1.0000000000 a\0" });
  // `out` only copies s1's build folder, and s1 is built on the tools image: the delta step is s1's next step
  // (no mount of the tree, which BuildKit would read whole to key the step), and what it wrote is exported.
  const inPlace = d.stages.find((s) => s.name === DELTA_STAGE)!;
  assert.is(inPlace.base, "s1");
  const run = inPlace.steps.find((s) => s.kind === "run")!;
  assert.ok(run.kind === "run" && run.mounts.length === 1 && run.mounts[0]!.kind === "bind" && run.mounts[0]!.target === "/have");
  assert.match(run.args.join(" "), "cd '/src/build/'");
  assert.equal(d.stages.find((s) => s.name === d.target)!.steps, [
    { kind: "copy", from: DELTA_STAGE, src: "/.pipeline-delta/d/", dest: "/" },
  ]);
  // When that stage ends with a command run as root (the compile step), that very step makes the delta after
  // its command, which it runs as "$@" and whose failure fails the step: no stage of its own.
  const compiled: Plan = {
    ...plan,
    stages: plan.stages.map((s) =>
      s.name === "s1" ? { ...s, steps: [{ kind: "run" as const, args: ["make", "-C", "/src"], mounts: [] }] } : s,
    ),
  };
  const f = withDeltaTarget(compiled, tools, "");
  assert.not.ok(f.stages.some((s) => s.name === DELTA_STAGE));
  const step = f.stages.find((s) => s.name === "s1")!.steps;
  assert.is(step.length, 1);
  assert.ok(step[0]!.kind === "run");
  assert.equal(step[0]!.args.slice(0, 2), ["sh", "-c"]);
  assert.match(step[0]!.args[2]!, /^"\$@" \|\| exit\n/);
  assert.match(step[0]!.args[2]!, "cd '/src/build/'");
  assert.match(step[0]!.args[2]!, "xargs -0r cp -al --parents", "what the step wrote is hard linked, not copied");
  assert.equal(step[0]!.args.slice(3), [DELTA_STAGE, "make", "-C", "/src"]);
  assert.ok(step[0]!.mounts.length === 1 && step[0]!.mounts[0]!.kind === "bind" && step[0]!.mounts[0]!.target === "/have");
  assert.equal(f.stages.find((s) => s.name === f.target)!.steps, [
    { kind: "copy", from: "s1", src: "/.pipeline-delta/d/", dest: "/" },
  ]);
  // ... unless a USER makes it run as another user (it could not write the delta's folder): a stage of its own.
  const asUser: Plan = {
    ...compiled,
    stages: compiled.stages.map((s) => (s.name === "s0" ? { ...s, steps: [{ kind: "user" as const, name: "builder" }] } : s)),
  };
  const separate = withDeltaTarget(asUser, tools, "");
  assert.is(separate.stages.find((s) => s.name === DELTA_STAGE)?.base, "s1");
  assert.equal(
    separate.stages.find((s) => s.name === "s1"),
    asUser.stages.find((s) => s.name === "s1"),
  );
  // A folder of a stage built on another image: mounted where it is into a stage of the tools image.
  const other: Plan = { ...plan, stages: [{ ...plan.stages[0]!, base: "alpine" }, ...plan.stages.slice(1)] };
  const mounted = withDeltaTarget(other, tools, "").stages.find((s) => s.name === DELTA_STAGE)!;
  assert.is(mounted.base, tools);
  assert.equal(withDeltaTarget(other, tools, "").stages.at(-1)!.steps, [
    { kind: "copy", from: DELTA_STAGE, src: "/.pipeline-delta/d/", dest: "/" },
  ]);
  assert.ok(
    mounted.steps[0]!.kind === "run" &&
      mounted.steps[0]!.mounts.some(
        (m) => m.kind === "bind" && m.from === "s1" && m.source === "/src/build/" && m.target === "/r",
      ),
  );
  assert.ok(
    mounted.steps[0]!.kind === "run" && mounted.steps[0]!.args[2]!.includes("xargs -0r cp -a --parents"),
    "a mount is copied from",
  );
  // A target that does more than copy a folder is mounted whole.
  const more = {
    ...plan,
    stages: [
      ...plan.stages.slice(0, 2),
      { ...plan.stages[2]!, steps: [...plan.stages[2]!.steps, { kind: "label" as const, name: "x", value: "y" }] },
    ],
  };
  const whole = withDeltaTarget(more, tools, "").stages.find((s) => s.name === DELTA_STAGE)!;
  assert.is(whole.base, tools);
  assert.ok(
    whole.steps[0]!.kind === "run" &&
      whole.steps[0]!.mounts.some((m) => m.kind === "bind" && m.from === "out" && m.source === "/"),
  );
});

test.run();
