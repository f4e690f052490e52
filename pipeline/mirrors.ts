/**
 * The image-mirror map: image references as graphs name them -> references that resolve here. `engine seed`
 * records its bootstrapped base images in it, so `from("debian:bookworm")` builds offline.
 */
import { promises as fs } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { mirrorsFile } from "./paths.ts";
import { UsageError } from "../modules/errors.ts";

const MirrorMap = z.record(z.string().min(1), z.string().min(1));

export async function readMirrors(file = mirrorsFile()): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await fs.readFile(file, "utf8");
  } catch {
    return {};
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new UsageError(`${file}: not valid JSON (${(err as Error).message}); expected {"image": "mirror image"}`);
  }
  const parsed = MirrorMap.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new UsageError(`${file}: at '${issue.path.join(".") || "(root)"}': expected a map of image -> mirror image (${issue.message})`);
  }
  return parsed.data;
}

export async function recordMirror(from: string, to: string, file = mirrorsFile()): Promise<void> {
  const map = { ...(await readMirrors(file)), [from]: to };
  await fs.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(map, null, 2) + "\n");
  await fs.rename(tmp, file);
}
