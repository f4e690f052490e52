/** pipeline/warm-policy.mjs: when a command may be handed to a warm process. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { warmWanted } from "../../pipeline/warm-policy.mjs";

test("PIPELINE_WARM=1 asks for a warm process anywhere, PIPELINE_WARM=0 never", () => {
  assert.is(warmWanted({ PIPELINE_WARM: "1" }, false), true);
  assert.is(warmWanted({ PIPELINE_WARM: "1", CI: "true" }, false), true);
  assert.is(warmWanted({ PIPELINE_WARM: "0" }, true), false);
});

test("unset, a command typed at a terminal gets one; a script, a pipe or CI does not", () => {
  assert.is(warmWanted({}, true), true);
  assert.is(warmWanted({ PIPELINE_WARM: "" }, true), true);
  assert.is(warmWanted({}, false), false);
  assert.is(warmWanted({}, undefined), false);
  assert.is(warmWanted({ CI: "true" }, true), false);
});

test.run();
