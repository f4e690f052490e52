/**
 * One error model for the whole tool: every error the CLI reports derives from PipelineError and carries its
 * exit code, so the CLI maps errors to exit codes in one place (pipeline/cli.ts).
 * - UsageError (2): bad flags, config or arguments; nothing ran. ConfigError and ArgumentError are kinds of it.
 * - StepError (1): a build step failed; says the stage, the command and the tail of its log.
 * - EngineUnavailable (3): no engine reachable, or it went away; says what was tried and what to run.
 * - UnsupportedOperation (2): the graph uses something the BuildKit executor cannot express; nothing ran.
 */
export class PipelineError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class UsageError extends PipelineError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** The project config is not valid: "FILE: at 'key.path': what was expected". */
export class ConfigError extends UsageError {}

/** A bad argument to a stage function (a variant name, a port). */
export class ArgumentError extends UsageError {}

export class UnsupportedOperation extends PipelineError {
  constructor(message: string) {
    super(`${message}. The BuildKit executor does not support it; run this graph on the Dagger engine (--engine dagger)`, 2);
  }
}

export class StepError extends PipelineError {
  constructor(message: string) {
    super(message, 1);
  }
}

export class EngineUnavailable extends PipelineError {
  constructor(message: string) {
    super(message, 3);
  }
}

/** Exit code for a run stopped by SIGINT (128 + 2), as shells report it. */
export const EXIT_INTERRUPTED = 130;
/** Exit code for a run stopped by SIGTERM (128 + 15). */
export const EXIT_TERMINATED = 143;
