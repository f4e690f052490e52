/**
 * The image-mirror map: image references as graphs name them -> references that resolve here. `engine seed`
 * records its bootstrapped base images in it, so `from("debian:bookworm")` builds offline.
 *
 * A seeded image lives in one engine's image store, so the map is kept per engine (keyed by its address, see
 * engineKey): `{"engines": {"unix:///.../docker.sock": {"debian:bookworm": "pipeline-seed/debian:bookworm"}}}`.
 * The older flat form (`{"image": "mirror"}`) was written by seeding the private engine, and is read as its map.
 */
import { promises as fs } from "node:fs";
import { dirname } from "node:path";
import { z } from "zod";
import { mirrorsFile } from "./paths.ts";
import { UsageError } from "../modules/errors.ts";
import { expectedEngineKey, privateEngineKey } from "./engines/detect.ts";

const MirrorMap = z.record(z.string().min(1), z.string().min(1));
const PerEngine = z.object({ engines: z.record(z.string().min(1), MirrorMap) }).strict();

type Maps = Record<string, Record<string, string>>;

async function readAll(file: string): Promise<Maps> {
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
    throw new UsageError(
      `${file}: not valid JSON (${(err as Error).message}); expected {"engines": {"ENGINE": {"image": "mirror image"}}}`,
    );
  }
  const perEngine = PerEngine.safeParse(data);
  if (perEngine.success) return perEngine.data.engines;
  const flat = MirrorMap.safeParse(data);
  if (flat.success) return { [privateEngineKey()]: flat.data };
  const issue = perEngine.error.issues[0]!;
  throw new UsageError(
    `${file}: at '${issue.path.join(".") || "(root)"}': expected {"engines": {"ENGINE": {"image": "mirror image"}}} (${issue.message})`,
  );
}

/** The mirror map of one engine (by default the one builds would use now). */
export async function readMirrors(engine = expectedEngineKey(), file = mirrorsFile()): Promise<Record<string, string>> {
  return (await readAll(file))[engine] ?? {};
}

/** Records `from -> to` in the map of the engine `engine` (the one that holds `to`). */
export async function recordMirror(engine: string, from: string, to: string, file = mirrorsFile()): Promise<void> {
  const maps = await readAll(file);
  maps[engine] = { ...maps[engine], [from]: to };
  await fs.mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fs.writeFile(tmp, JSON.stringify({ engines: maps }, null, 2) + "\n");
  await fs.rename(tmp, file);
}
