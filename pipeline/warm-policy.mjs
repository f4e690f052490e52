// Whether a command may be handed to a warm process (warm.mjs). PIPELINE_WARM=1 turns it on and
// PIPELINE_WARM=0 off; left unset, a command typed at a terminal uses one (standard input is a terminal and
// CI is not set: the edit-and-rebuild loop a developer runs), and a script, a pipe, a test runner or a CI job
// loads the CLI itself and leaves no process behind. Plain JavaScript: bin.mjs reads it before the bundle.

/** `env`: the environment; `stdinIsTTY`: whether standard input is a terminal. */
export function warmWanted(env, stdinIsTTY) {
  const set = env.PIPELINE_WARM;
  if (set !== undefined && set !== "") return set !== "0";
  return !!stdinIsTTY && !env.CI;
}
