/**
 * Runs a lazy Dagger object on a Dagger engine through the SDK's `connection()`: the same object the
 * BuildKit executor translates, evaluated by Dagger itself. Outputs land atomically as on BuildKit.
 */
import { connection, type Container, type Directory, type File } from "@dagger.io/dagger";
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { atomicWrite, type OutputRequest } from "../outputs.ts";
import { capture } from "../proc.ts";
import { StepError } from "../../modules/errors.ts";
import { sdkTypeName } from "../sdk-adapter.ts";

/** Runs `obj`; for a publish, returns the pushed reference's digest. */
export async function runOnDagger(obj: Container | Directory | File, request: OutputRequest): Promise<string | undefined> {
  let digest: string | undefined;
  await connection(
    async () => {
      const type = sdkTypeName(obj);
      switch (request.kind) {
        case "sync":
          await obj.sync();
          return;
        case "export":
          await atomicWrite(request.path, async (tmp) => {
            await (obj as Directory | File).export(tmp);
          });
          return;
        case "tarball":
          await atomicWrite(request.path, async (tmp) => {
            await (obj as Container).export(tmp);
          });
          return;
        case "publish": {
          if (type !== "Container") throw new StepError("--publish needs a Container");
          const pushed = await (obj as Container).publish(request.ref);
          digest = /@(sha256:[0-9a-f]{64})$/.exec(pushed)?.[1];
          return;
        }
        case "tag": {
          if (type !== "Container") throw new StepError("--tag needs a Container");
          const dir = await fs.mkdtemp(join(tmpdir(), "pipeline-dagger-"));
          try {
            const tar = join(dir, "image.tar");
            await (obj as Container).export(tar);
            const loaded = await capture("docker", ["load", "-i", tar]);
            const id = /Loaded image(?: ID)?: (\S+)/.exec(loaded.stdout)?.[1];
            if (loaded.code !== 0 || !id) throw new StepError(`docker load failed: ${loaded.stderr.trim()}`);
            const tagged = await capture("docker", ["tag", id, request.image]);
            if (tagged.code !== 0) throw new StepError(`docker tag failed: ${tagged.stderr.trim()}`);
          } finally {
            await fs.rm(dir, { recursive: true, force: true });
          }
          return;
        }
      }
    },
    { LogOutput: process.stderr },
  );
  return digest;
}
