/**
 * Reads BuildKit's plain progress stream (`#N ...` lines, the same from docker build, buildx and buildctl)
 * into vertices: their names, state and log tails. The runner uses it to count what was cached, to name a
 * failed step, and to draw progress: the raw lines when not on a TTY (or in CI), a compact live view on one.
 */
import { createLogUpdate } from "log-update";
import { STALE_SNAPSHOT } from "./snapshot.ts";

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

/** How a build step's warning starts (modules/scripts/ccache-toolchain.sh): shown whatever the progress mode. */
export const STEP_WARNING = "pipeline-build: warning: ";

/** The steps' warnings, after a view that did not show the steps' output. */
function printWarnings(tracker: ProgressTracker): void {
  for (const w of tracker.warnings) process.stderr.write(`${w}\n`);
}

/** The stage a run with no output targets on Docker (engines/buildkit.ts); its one step is not a build step. */
export const SYNC_STAGE = "pipeline-sync";

/** What masks a secret's plaintext in anything printed or kept. */
export const MASK = "***";

/**
 * Replaces every occurrence of each secret value in `text` with `***`, longest value first (so a secret that
 * contains another is masked whole). Every non-empty value is masked, as Dagger does; a value of several lines
 * is also masked line by line, since output reaches us one line at a time.
 */
export function maskSecrets(text: string, secrets: readonly string[]): string {
  if (secrets.length === 0 || !text) return text;
  let out = text;
  for (const s of secretNeedles(secrets)) if (out.includes(s)) out = out.split(s).join(MASK);
  return out;
}

function secretNeedles(secrets: readonly string[]): string[] {
  const needles = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    needles.add(s);
    if (s.includes("\n")) for (const part of s.split(/\r?\n/)) if (part.trim()) needles.add(part);
  }
  return [...needles].sort((a, b) => b.length - a.length);
}

export class ProgressTracker {
  readonly vertices = new Map<number, Vertex>();
  /** Lines that are not part of a vertex (the client's closing error, warnings). */
  readonly trailer: string[] = [];
  /** Whether a step said its build tree's snapshot is stale (snapshot.ts). */
  staleSnapshot = false;
  /** What the build steps warned about (`pipeline-build: warning: ...`), each once: a compact view shows them at its end. */
  readonly warnings: string[] = [];
  private readonly secrets: string[];

  /** `secrets`: the plaintexts of the plan's secrets; every line is masked with them before it is kept. */
  constructor(secrets: readonly string[] = []) {
    this.secrets = secretNeedles(secrets);
  }

  /** `text` with every secret value replaced by `***`: for anything printed from the build's output. */
  mask(text: string): string {
    return maskSecrets(text, this.secrets);
  }

  /**
   * A raw progress line, masked. What the engine adds (the `#N ` prefix and a log line's timestamp, or a whole
   * DONE/CACHED/digest line) is kept as it is, so that a short secret cannot garble it; the rest is masked.
   */
  maskLine(line: string): string {
    if (this.secrets.length === 0) return line;
    if (/^#\d+ (DONE \d+\.\d+s|CACHED|sha256:[0-9a-f]+)$/.test(line)) return line;
    const m = /^(#\d+ (?:\d+\.\d+ )?)(.*)$/s.exec(line);
    return m ? m[1]! + this.mask(m[2]!) : this.mask(line);
  }

  feed(line: string): void {
    const m = /^#(\d+) (.*)$/.exec(line);
    if (!m) {
      if (line.trim()) this.trailer.push(this.mask(line));
      return;
    }
    const id = Number(m[1]);
    const rest = m[2]!;
    let v = this.vertices.get(id);
    if (!v) {
      v = { id, name: this.mask(rest), state: "running", started: Date.now(), log: [] };
      this.vertices.set(id, v);
      return;
    }
    if (rest === "CACHED") v.state = "cached";
    else if (rest.startsWith("DONE")) {
      if (v.state !== "cached") v.state = "done";
      v.seconds = Number(rest.slice(5).replace(/s$/, "")) || 0;
    } else if (rest.startsWith("ERROR")) {
      v.state = "error";
      v.error = this.mask(rest.replace(/^ERROR:?\s*/, ""));
    } else if (rest.startsWith("sha256:")) {
      // the vertex digest: nothing to show
    } else {
      // "0.123 some output" (a log line with its timestamp), or a status line such as "transferring ..."
      const text = rest.replace(/^\d+\.\d+ /, "");
      if (STALE_SNAPSHOT.test(text)) this.staleSnapshot = true;
      if (text.startsWith(STEP_WARNING)) {
        const warning = this.mask(text);
        if (!this.warnings.includes(warning)) this.warnings.push(warning);
      }
      v.log.push(this.mask(text));
      if (v.log.length > LOG_TAIL) v.log.shift();
    }
  }

  /** Build steps of the definition (`[stage i/n] RUN ...`), not the engine's internal work (nor the no-output stage's copy). */
  steps(): Vertex[] {
    return [...this.vertices.values()].filter(
      (v) => /^\[(\S+ +)?\d+\/\d+\] (RUN|COPY|ADD|WORKDIR)\b/.test(v.name) && !v.name.startsWith(`[${SYNC_STAGE} `),
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

  /** The step that was running last (a build step if one was, else any vertex): what an engine loss cut off. */
  running(): Vertex | undefined {
    const running = [...this.vertices.values()].filter((v) => v.state === "running");
    const steps = new Set(this.steps());
    return running.filter((v) => steps.has(v)).at(-1) ?? running.at(-1);
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
  if (mode === "quiet") return { line: () => {}, done: () => printWarnings(tracker) };
  if (mode === "plain") {
    return { line: (l) => process.stderr.write(tracker.maskLine(l) + "\n"), done: () => {} };
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
      printWarnings(tracker);
    },
  };
}
