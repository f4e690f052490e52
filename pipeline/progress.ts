/**
 * Reads BuildKit's plain progress stream (`#N ...` lines, the same from docker build, buildx and buildctl)
 * into vertices: their names, state and log tails. The runner uses it to count what was cached, to name a
 * failed step, and to draw progress: the raw lines when not on a TTY (or in CI), a compact live view on one.
 */
import { createLogUpdate } from "log-update";

export interface Vertex {
  id: number;
  name: string;
  state: "running" | "done" | "cached" | "error";
  started: number;
  seconds?: number;
  error?: string;
  log: string[];
}

const LOG_TAIL = 40;

/** The stage a run with no output targets on Docker (engines/buildkit.ts); its one step is not a build step. */
export const SYNC_STAGE = "pipeline-sync";

export class ProgressTracker {
  readonly vertices = new Map<number, Vertex>();
  /** Lines that are not part of a vertex (the client's closing error, warnings). */
  readonly trailer: string[] = [];

  feed(line: string): void {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) {
      if (line.trim()) this.trailer.push(line);
      return;
    }
    const id = Number(m[1]);
    const rest = m[2]!;
    let v = this.vertices.get(id);
    if (!v) {
      v = { id, name: rest, state: "running", started: Date.now(), log: [] };
      this.vertices.set(id, v);
      return;
    }
    if (rest === "CACHED") v.state = "cached";
    else if (rest.startsWith("DONE")) {
      if (v.state !== "cached") v.state = "done";
      v.seconds = Number(rest.slice(5).replace(/s$/, "")) || 0;
    } else if (rest.startsWith("ERROR")) {
      v.state = "error";
      v.error = rest.replace(/^ERROR:?\s*/, "");
    } else if (rest.startsWith("sha256:")) {
      // the vertex digest: nothing to show
    } else {
      // "0.123 some output" (a log line with its timestamp), or a status line such as "transferring ..."
      v.log.push(rest.replace(/^\d+\.\d+ /, ""));
      if (v.log.length > LOG_TAIL) v.log.shift();
    }
  }

  /** Build steps of the definition (`[stage i/n] RUN ...`), not the engine's internal work (nor the no-output stage's copy). */
  steps(): Vertex[] {
    return [...this.vertices.values()].filter(
      (v) => /^\[(\S+ )?\d+\/\d+\] (RUN|COPY|ADD|WORKDIR)\b/.test(v.name) && !v.name.startsWith(`[${SYNC_STAGE} `),
    );
  }

  summary(): { steps: number; cached: number; executed: number } {
    const steps = this.steps();
    const cached = steps.filter((s) => s.state === "cached").length;
    const executed = steps.filter((s) => s.state === "done" || s.state === "error").length;
    return { steps: steps.length, cached, executed };
  }

  failed(): Vertex | undefined {
    return [...this.vertices.values()].find((v) => v.state === "error");
  }
}

/** Where progress goes: the raw lines (plain) or a redrawn compact view (tty). */
export interface ProgressView {
  line(line: string): void;
  done(): void;
}

export type ProgressMode = "auto" | "plain" | "tty" | "quiet";

export function resolveMode(mode: ProgressMode, stream: NodeJS.WriteStream = process.stderr): "plain" | "tty" | "quiet" {
  if (mode !== "auto") return mode;
  return stream.isTTY && !process.env.CI ? "tty" : "plain";
}

export function createView(mode: "plain" | "tty" | "quiet", tracker: ProgressTracker): ProgressView {
  if (mode === "quiet") return { line: () => {}, done: () => {} };
  if (mode === "plain") {
    return { line: (l) => process.stderr.write(l + "\n"), done: () => {} };
  }
  const render = createLogUpdate(process.stderr, { showCursor: true });
  const frames = ["-", "\\", "|", "/"];
  let frame = 0;
  const draw = () => {
    const running = [...tracker.vertices.values()].filter((v) => v.state === "running");
    const { steps, cached, executed } = tracker.summary();
    const width = process.stderr.columns || 100;
    const lines = running.slice(-6).map((v) => {
      const secs = ((Date.now() - v.started) / 1000).toFixed(1);
      const last = v.log.at(-1);
      const head = `${frames[frame % frames.length]} ${v.name}`.slice(0, width - 10) + ` ${secs}s`;
      return last ? `${head}\n    ${last.slice(0, width - 6)}` : head;
    });
    lines.push(`  ${steps} steps: ${cached} cached, ${executed} run`);
    render(lines.join("\n"));
    frame++;
  };
  const timer = setInterval(draw, 120);
  return {
    line: () => {},
    done: () => {
      clearInterval(timer);
      render.clear();
      render.done();
    },
  };
}
