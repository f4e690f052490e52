/**
 * `pipeline docs --serve [--port N]`: a live preview of a source tree's docs. It builds and loads the
 * development image through the pipeline (as `dev-image` does), then runs sphinx-autobuild in it on the mounted
 * tree (`docker run --network host -v SRC:/src:ro`): every save rebuilds the pages and reloads the browser.
 * Ctrl-C stops it and removes the container.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import { execute, type ExecuteOptions } from "./execute.ts";
import { dockerEnv, findBuildkit } from "./engines/detect.ts";
import type { Project } from "./project.ts";
import { serveCommand, serveFiles } from "../modules/docs.ts";
import { StepError, UsageError } from "../modules/errors.ts";
import { exitCodeFor, interrupted } from "./interrupt.ts";

/** The port a preview listens on unless --port says otherwise. */
export const DEFAULT_DOCS_PORT = 8000;

export async function serveDocs(
  project: Project,
  opts: { source?: string; port?: number; execute: ExecuteOptions },
): Promise<void> {
  const port = opts.port ?? DEFAULT_DOCS_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError(`--port ${opts.port}: expected a port number (1-65535)`);
  const endpoint = await findBuildkit({ buildkitAddr: opts.execute.buildkitAddr });
  if (endpoint.kind !== "docker")
    throw new UsageError("docs --serve runs the development image with Docker; this engine is a buildkitd");
  const env = dockerEnv(endpoint);
  const image = `${project.cfg.name}-dev:${project.cfg.version}`;
  const say = opts.execute.say ?? ((line: string) => process.stderr.write(`pipeline: ${line}\n`));

  // The dev image, loaded through the pipeline: built once, cached after.
  await execute(await project.pipeline.devImage(false), { kind: "tag", image }, opts.execute);

  const src = resolve(opts.source ?? join(project.dir, project.cfg.source));
  const conf = mkdtempSync(join(tmpdir(), "pipeline-docs-serve-"));
  for (const [name, text] of Object.entries(serveFiles(project.cfg))) {
    mkdirSync(dirname(join(conf, name)), { recursive: true });
    writeFileSync(join(conf, name), text);
  }
  const name = `pipeline-docs-serve-${randomBytes(4).toString("hex")}`;
  const remove = () => {
    spawnSync(endpoint.client, ["rm", "-f", name], { env, stdio: "ignore" });
    rmSync(conf, { recursive: true, force: true });
  };
  say(`docs preview of ${src} at http://127.0.0.1:${port}/ (rebuilds on save; Ctrl-C stops it)`);
  const child = spawn(
    endpoint.client,
    [
      "run",
      "--rm",
      "--name",
      name,
      "--network",
      "host",
      "--entrypoint",
      "",
      "-v",
      `${src}:/src:ro`,
      "-v",
      `${conf}:/pipeline-docs:ro`,
      image,
      ...serveCommand(project.cfg, port),
    ],
    { env, stdio: ["ignore", "inherit", "inherit"] },
  );
  const code = await new Promise<number>((done) => {
    const stop = () => {
      child.kill("SIGTERM");
      remove();
    };
    interrupted.addEventListener("abort", stop, { once: true });
    child.on("close", (c) => {
      interrupted.removeEventListener("abort", stop);
      done(c ?? 1);
    });
  });
  remove();
  if (interrupted.aborted) process.exit(exitCodeFor(interrupted.reason as NodeJS.Signals));
  if (code !== 0) throw new StepError(`docs --serve: sphinx-autobuild exited with ${code}`);
}
