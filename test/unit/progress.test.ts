import { test } from "uvu";
import * as assert from "uvu/assert";
import { createView, maskSecrets, ProgressTracker, SYNC_STAGE } from "../../pipeline/progress.ts";
import { describeEngineLoss, describeFailure } from "../../pipeline/engines/buildkit.ts";
import type { Plan } from "../../pipeline/plan.ts";

const cachedRun = `#1 [internal] load build definition from Dockerfile
#1 transferring dockerfile: 32B done
#1 DONE 0.0s

#4 [s0 1/3] FROM docker.io/pipeline-seed/debian:bookworm
#4 DONE 0.0s

#6 [d0 1/1] COPY --chmod=0755 [f/abc, /x/y.txt]
#6 CACHED

#9 [s0 2/3] RUN ["sh","-c","make"]
#9 CACHED

#10 [s0 3/3] RUN ["sh","-c","make test"]
#10 sha256:9b3cd8278973523fdbb13bd463dc7b15ddcedb8a0b06e004d238d1aee1663232
#10 0.067 ok 1
#10 DONE 0.1s`;

const failedRun = `#5 [2/2] RUN ["sh","-c","echo line1; echo line2 >&2; exit 3"]
#5 0.078 line1
#5 0.078 line2
#5 ERROR: executor failed running [sh -c echo line1; echo line2 >&2; exit 3]: exit code: 3
------
 > [2/2] RUN ["sh","-c","echo line1; echo line2 >&2; exit 3"]:
------
executor failed running [sh -c echo line1; echo line2 >&2; exit 3]: exit code: 3`;

const feed = (text: string) => {
  const t = new ProgressTracker();
  for (const line of text.split("\n")) t.feed(line);
  return t;
};

test("steps are counted as cached or run; FROM and internal work are not steps", () => {
  assert.equal(feed(cachedRun).summary(), { steps: 3, cached: 2, executed: 1 });
});

test("the copy of the no-output stage (Docker runs with nothing to export) is not a build step", () => {
  const t = feed(`${cachedRun}\n#11 [${SYNC_STAGE} 1/1] COPY --from=out /.pipeline-sync-none* /\n#11 DONE 0.0s`);
  assert.equal(t.summary(), { steps: 3, cached: 2, executed: 1 });
});

test("a stage of 10 steps or more (BuildKit pads the step number: [s0  2/13]) counts every step, and a failure names its stage", () => {
  const t = feed(`#4 [s0  1/13] FROM docker.io/pipeline-seed/debian:bookworm
#4 DONE 0.0s
#5 [s0  2/13] RUN ["sh","-c","apt-get install -y cmake"]
#5 CACHED
#6 [s1  9/10] COPY [h0/,/src/]
#6 DONE 0.1s
#7 [s1 10/10] RUN ["sh","-c","exit 3"]
#7 ERROR: executor failed running [sh -c exit 3]: exit code: 3`);
  assert.equal(t.summary(), { steps: 3, cached: 1, executed: 2 });
  const plan: Plan = {
    stages: [{ name: "s1", base: "s0", label: "the build", steps: [] }],
    target: "s2",
    output: { kind: "container" },
    context: [],
    secrets: [],
  };
  assert.match(describeFailure(plan, t), "stage: s1 (the build)");
});

test("a step's log lines are kept without their timestamps", () => {
  assert.equal(feed(cachedRun).vertices.get(10)!.log, ["ok 1"]);
});

test("a failure names the step, its stage, its error and the tail of its log", () => {
  const plan: Plan = {
    stages: [{ name: "s0", base: "debian", label: "from debian:bookworm", steps: [] }],
    target: "s0",
    output: { kind: "container" },
    context: [],
    secrets: [],
  };
  const text = describeFailure(plan, feed(failedRun));
  assert.match(text, 'build step failed: [2/2] RUN ["sh","-c","echo line1; echo line2 >&2; exit 3"]');
  assert.match(text, "stage: s0 (from debian:bookworm)");
  assert.match(text, "exit code: 3");
  assert.match(text, "| line1\n    | line2");
});

test("an unresolvable base image points to seeding", () => {
  const plan: Plan = { stages: [], target: "s0", output: { kind: "container" }, context: [], secrets: [] };
  const t = feed(
    `#3 [internal] load metadata for docker.io/library/debian:bookworm\n#3 ERROR: failed to do request: no such host`,
  );
  assert.match(describeFailure(plan, t), "npx pipeline engine seed");
});

test("a secret value is masked as *** wherever it appears, longest value first, empty values ignored", () => {
  assert.is(maskSecrets("token=abc123 and again abc123.", ["abc123"]), "token=*** and again ***.");
  assert.is(maskSecrets("key: abc123xyz", ["abc123", "abc123xyz", ""]), "key: ***");
  assert.is(maskSecrets("nothing here", []), "nothing here");
  assert.is(maskSecrets("a.b", ["."]), "a***b");
  assert.is(maskSecrets("line two of it", ["line one\nline two"]), "*** of it", "a multi-line value is masked line by line");
});

const echoedSecret = `#5 [s0 2/2] RUN ["sh","-c","echo token is $TOKEN; exit 1"]
#5 0.071 token is hunter2-xyz
#5 ERROR: executor failed running [sh -c echo token is $TOKEN; exit 1]: exit code: 1
------
 > [s0 2/2] RUN ["sh","-c","echo token is $TOKEN; exit 1"]:
#5 0.071 token is hunter2-xyz
------
failed to solve: hunter2-xyz`;

test("the tracker keeps no secret: step logs, errors and the client's closing words are masked", () => {
  const plan: Plan = {
    stages: [{ name: "s0", base: "debian", label: "from debian:bookworm", steps: [] }],
    target: "s0",
    output: { kind: "container" },
    context: [],
    secrets: [{ id: "t", plaintext: "hunter2-xyz" }],
  };
  const t = new ProgressTracker(["hunter2-xyz"]);
  for (const line of echoedSecret.split("\n")) t.feed(line);
  const failure = describeFailure(plan, t);
  assert.match(failure, "| token is ***");
  assert.not.match(failure, "hunter2");
  assert.not.match(JSON.stringify([...t.vertices.values()]) + t.trailer.join("\n"), "hunter2");
});

test("a masked progress line keeps its #N prefix and timestamp, so even a one-character secret leaves it readable", () => {
  const t = new ProgressTracker(["5"]);
  assert.is(t.maskLine("#5 0.5 got 5 items"), "#5 0.5 got *** items");
  assert.is(t.maskLine("#5 DONE 0.5s"), "#5 DONE 0.5s");
  t.feed("#5 [s0 1/1] RUN x");
  t.feed("#5 0.5 got 5 items");
  assert.equal(t.vertices.get(5)!.log, ["got *** items"]);
});

test("the plain view prints every line masked", () => {
  const writes: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
  try {
    const t = new ProgressTracker(["hunter2-xyz"]);
    const view = createView("plain", t);
    for (const line of echoedSecret.split("\n")) view.line(line);
    view.done();
  } finally {
    process.stderr.write = write;
  }
  assert.match(writes.join(""), "#5 0.071 token is ***");
  assert.not.match(writes.join(""), "hunter2");
});

test("a step's warnings are kept once each, masked, and printed at the end of a quiet or compact view (the plain one printed them)", () => {
  const warning = "pipeline-build: warning: the compiler cache was filled with another toolchain (libc6-dev 1 -> 2) hunter2-xyz";
  const run = `#9 [s0 13/13] RUN ["sh","-c","build"]\n#9 0.100 ${warning}\n#9 0.200 pipeline-build: build\n#9 0.300 ${warning}\n#9 DONE 1.0s`;
  const printed = (mode: "plain" | "quiet") => {
    const writes: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
    const t = new ProgressTracker(["hunter2-xyz"]);
    try {
      const view = createView(mode, t);
      for (const line of run.split("\n")) {
        t.feed(line);
        view.line(line);
      }
      view.done();
    } finally {
      process.stderr.write = write;
    }
    assert.equal(t.warnings, [
      "pipeline-build: warning: the compiler cache was filled with another toolchain (libc6-dev 1 -> 2) ***",
    ]);
    return writes.join("");
  };
  assert.is(
    printed("quiet"),
    "pipeline-build: warning: the compiler cache was filled with another toolchain (libc6-dev 1 -> 2) ***\n",
  );
  const plain = printed("plain");
  assert.is(plain.split("pipeline-build: warning:").length - 1, 2, "the plain view prints the lines as they came, nothing after");
});

test("an engine lost mid-build names the step that was running and how to start the engine", () => {
  const plan: Plan = {
    stages: [{ name: "s0", base: "debian", label: "from debian:bookworm", steps: [] }],
    target: "s0",
    output: { kind: "container" },
    context: [],
    secrets: [],
  };
  const t = feed(`${cachedRun}\n#12 [s0 4/4] RUN ["sleep","600"]\n#12 sha256:abc\nunexpected EOF`);
  const text = describeEngineLoss(
    plan,
    {
      kind: "docker",
      client: "docker",
      mode: "builtin",
      host: "unix:///h/engine/docker.sock",
      via: "private engine (/h/engine/docker.sock)",
    },
    t,
  );
  assert.match(text, 'the engine went away during [s0 4/4] RUN ["sleep","600"] (stage s0 (from debian:bookworm))');
  assert.match(text, "the client said: unexpected EOF");
  assert.match(text, "start it again with: npx pipeline engine up");
});

test.run();
