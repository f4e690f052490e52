// At a terminal, or with PIPELINE_WARM=1 (warm-policy.mjs): a stage command (build, test, package, docs) runs
// in a process that loaded the CLI before it was asked, instead of loading the bundle and the Dagger SDK itself
// (0.4 to 0.6 s of every command on these machines). Each such process serves one command and then exits; as it
// exits it starts its successor, which loads once it is gone (while a person edits), so the next command finds
// one ready. One waits at most WAIT_MS for a command, then exits. Plain JavaScript: bin.mjs loads it before the
// bundle.
//
// The command's process (the client) sends its arguments, folder, environment and terminal to the warm one
// over a Unix socket under the state folder (named after the bundle, so a changed CLI is never served by an
// old one), then writes what comes back to its own stdout and stderr, forwards SIGINT, SIGTERM and SIGHUP,
// and exits with the warm process's exit code. Anything that goes wrong before the command started falls back
// to the usual way, in this process.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { connect, createServer } from "node:net";
import { constants as osConstants } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadTypeScript } from "./typescript.mjs";

/** How long a warm process waits for a command before it exits. */
const WAIT_MS = 10 * 60 * 1000;
/** The commands a warm process serves: those that read no stdin and give no child process the terminal. */
const SERVED = ["build", "test", "package", "docs"];
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"];

/** Whether a warm process may serve this command line (`docs --serve` gives sphinx-autobuild the terminal). */
export function servable(argv) {
  const first = argv.find((a) => !a.startsWith("-"));
  return SERVED.includes(first) && !argv.includes("--serve");
}

/** The socket of the warm processes of one bundle (and of this file as it is now), for one state folder. */
export function socketPath(state, bundleUrl) {
  const self = statSync(fileURLToPath(import.meta.url));
  const key = createHash("sha256")
    .update(`${bundleUrl}\0${self.size}:${self.mtimeMs}\0${process.execPath}\0${process.version}`)
    .digest("hex");
  return join(state, "warm", `${key.slice(0, 16)}.sock`);
}

/**
 * Starts a warm process for `socket` in the background (it exits at once if one already listens there). With
 * `after` (a pid), it loads the CLI only once that process has exited: a successor started as a command's
 * process exits does not compete with it for the CPU (loading takes about half a second of a core).
 */
export function startWarm(socket, bundleUrl, after) {
  try {
    mkdirSync(join(socket, ".."), { recursive: true });
    const worker = fileURLToPath(new URL("./warm.mjs", import.meta.url));
    const args = [worker, socket, bundleUrl, ...(after ? [String(after)] : [])];
    const child = spawn(process.execPath, args, { detached: true, stdio: "ignore" });
    child.unref();
  } catch {
    // no warm process this time: the next command loads the CLI itself
  }
}

/**
 * Runs the command in the warm process listening on `socket`: resolves to its exit code, or to undefined when
 * none answered (then nothing ran, and the caller runs the command itself).
 */
export function runWarm(socket, argv, { started = performance.timeOrigin } = {}) {
  return new Promise((resolve) => {
    const sock = connect(socket);
    let begun = false;
    let signalled;
    let buf = "";
    const forward = {};
    let finished = false;
    const done = (code) => {
      if (finished) return;
      finished = true;
      for (const s of SIGNALS) if (forward[s]) process.removeListener(s, forward[s]);
      sock.destroy();
      resolve(code);
    };
    sock.on("error", () => done(begun ? 1 : undefined));
    sock.on("connect", () => {
      const tty = (s) => ({ tty: !!s.isTTY, columns: s.columns, rows: s.rows });
      sock.write(
        JSON.stringify({
          argv,
          cwd: process.cwd(),
          env: process.env,
          started,
          // The input digests the up-to-date check made here (uptodate.mjs), for the command's stamp.
          digests: [...(globalThis[Symbol.for("pipeline.inputDigests")] ?? [])],
          stdout: tty(process.stdout),
          stderr: tty(process.stderr),
        }) + "\n",
      );
    });
    sock.on("data", (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const frame = JSON.parse(buf.slice(0, i));
        buf = buf.slice(i + 1);
        if (frame.begun && !begun) {
          begun = true;
          for (const s of SIGNALS) {
            forward[s] = () => {
              signalled = s;
              sock.write(JSON.stringify({ signal: s }) + "\n");
            };
            process.on(s, forward[s]);
          }
        } else if (frame.o !== undefined) process.stdout.write(Buffer.from(frame.o, "base64"));
        else if (frame.e !== undefined) process.stderr.write(Buffer.from(frame.e, "base64"));
        else if (frame.exit !== undefined) return done(frame.exit);
      }
    });
    sock.on("close", () => {
      if (finished) return;
      if (!begun) return done(undefined);
      // Ended by a signal this process forwarded before the command could handle it: the signal's exit status.
      if (signalled) return done(128 + osConstants.signals[signalled]);
      process.stderr.write("pipeline: the warm process that ran this command ended without an exit status\n");
      done(1);
    });
  });
}

/** Whether process `pid` is still running (one that exited but was not reaped yet counts as gone). */
function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === "EPERM";
  }
  try {
    // /proc/PID/stat: "PID (COMMAND) STATE ...": Z is a zombie.
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return true;
  }
}

/** The warm process: `node warm.mjs SOCKET BUNDLE_URL [AFTER_PID]`. */
async function serve(socket, bundleUrl, after) {
  globalThis[Symbol.for("pipeline.loadTypeScript")] = loadTypeScript;
  // Started by a warm process as it took a command: load once that command is done (its process exits with it).
  const waited = Date.now();
  while (after && alive(after) && Date.now() - waited < WAIT_MS) await new Promise((r) => setTimeout(r, 50));
  globalThis[Symbol.for("pipeline.sdk")] = new URL("./sdk.mjs", bundleUrl).href;
  const { main } = await import(bundleUrl);
  const server = createServer();
  const idle = setTimeout(() => server.close(), WAIT_MS);
  idle.unref();
  server.on("error", async (err) => {
    if (err.code !== "EADDRINUSE") process.exit(0);
    // A socket file is there: another warm process listens (leave it), or one that ended left it (replace it).
    const live = await new Promise((res) => {
      const probe = connect(socket);
      probe.on("connect", () => {
        probe.destroy();
        res(true);
      });
      probe.on("error", () => res(false));
    });
    if (live) process.exit(0);
    rmSync(socket, { force: true });
    server.listen(socket);
  });
  // A connection that sends no command (a probe, as the one above) changes nothing; the first command taken
  // closes the socket, and any other connection is closed unanswered (its client then runs the command itself).
  let taken = false;
  server.on("connection", (sock) => {
    let buf = "";
    sock.on("error", () => {});
    const onData = (chunk) => {
      buf += chunk;
      const i = buf.indexOf("\n");
      if (i < 0) return;
      sock.removeListener("data", onData);
      if (taken) return sock.destroy();
      taken = true;
      clearTimeout(idle);
      server.close();
      const request = JSON.parse(buf.slice(0, i));
      buf = buf.slice(i + 1);
      run(sock, request, main).catch(() => process.exit(1));
      // The next command's warm process, started as this one exits, once the client has its exit status (not as
      // the command starts, where its start took a core beside the command's own), and loaded once this one is gone.
      process.on("exit", () => startWarm(socket, bundleUrl, process.pid));
      sock.on("data", (more) => {
        buf += more;
        let j;
        while ((j = buf.indexOf("\n")) >= 0) {
          const { signal } = JSON.parse(buf.slice(0, j));
          buf = buf.slice(j + 1);
          if (SIGNALS.includes(signal)) process.kill(process.pid, signal);
        }
      });
    };
    sock.on("data", onData);
  });
  server.listen(socket);
}

/** Becomes the client's command: its folder, environment, arguments and terminal, then runs the CLI. */
async function run(sock, request, main) {
  // Frames go out as they are written, and the last one before the process exits: blocking writes.
  sock._handle?.setBlocking?.(true);
  const send = (frame) => sock.write(JSON.stringify(frame) + "\n");
  // The client gone (killed, or its terminal closed) is a stop: the CLI cancels the build as on SIGTERM.
  sock.on("close", () => process.kill(process.pid, "SIGTERM"));
  process.chdir(request.cwd);
  for (const k of Object.keys(process.env)) delete process.env[k];
  Object.assign(process.env, request.env);
  process.argv = [process.argv[0], fileURLToPath(new URL("./bin.mjs", import.meta.url)), ...request.argv];
  globalThis[Symbol.for("pipeline.timeOrigin")] = request.started;
  // Into the map the CLI's copy of uptodate.mjs made when it loaded.
  const digests = (globalThis[Symbol.for("pipeline.inputDigests")] ??= new Map());
  for (const [key, digest] of request.digests ?? []) digests.set(key, digest);
  for (const [name, key] of [
    ["stdout", "o"],
    ["stderr", "e"],
  ]) {
    const stream = process[name];
    const t = request[name];
    Object.defineProperty(stream, "isTTY", { value: t.tty, configurable: true });
    Object.defineProperty(stream, "columns", { value: t.columns, configurable: true });
    Object.defineProperty(stream, "rows", { value: t.rows, configurable: true });
    stream.write = (chunk, encoding, cb) => {
      if (typeof encoding === "function") [cb, encoding] = [encoding, undefined];
      send({ [key]: Buffer.from(chunk, typeof chunk === "string" ? encoding : undefined).toString("base64") });
      if (cb) process.nextTick(cb);
      return true;
    };
  }
  process.on("exit", (code) => send({ exit: code ?? 0 }));
  send({ begun: true });
  if (process.env.PIPELINE_TRACE && process.env.PIPELINE_TRACE !== "0") {
    const since = (performance.timeOrigin + performance.now() - request.started) / 1000;
    process.stderr.write(`pipeline: trace ${since.toFixed(3)}s taken by a warm process (pid ${process.pid})\n`);
  }
  await main(request.argv);
}

if (process.argv[1] === fileURLToPath(import.meta.url))
  await serve(process.argv[2], process.argv[3], Number(process.argv[4]) || 0);
