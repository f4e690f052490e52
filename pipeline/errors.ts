/**
 * Errors are part of the interface (see the design notes): each kind has its exit code.
 * - UsageError (2): bad flags or config; nothing ran.
 * - StepError (1): a build step failed; says the stage, the command and the tail of its log.
 * - EngineUnavailable (3): no engine reachable; says what was tried and the command that starts one.
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

export class UnsupportedOperation extends PipelineError {
  constructor(message: string) {
    super(
      `${message}. The BuildKit executor does not support it; run this graph on the Dagger engine (--engine dagger)`,
      2,
    );
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
