/** Types of warm-policy.mjs. */
/** Whether a command may be handed to a warm process: PIPELINE_WARM=1/0, else at a terminal outside CI. */
export function warmWanted(env: NodeJS.ProcessEnv, stdinIsTTY: boolean | undefined): boolean;
