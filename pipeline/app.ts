/**
 * What the `app` stage checks and decides on the host before anything builds: the program folder and its entry
 * program exist, its packages.txt names Debian packages (exit 2, one line, otherwise), and the application's
 * name (--name, else the config's app.name, else the program folder's name).
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { appEntrypoint, appNameFromFolder, checkAppName, PACKAGES_FILE } from "../modules/app.ts";
import { UsageError } from "../modules/errors.ts";
import type { Project } from "./project.ts";

interface AppFlags {
  source?: string;
  entry?: string;
  name?: string;
}

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.:~-]*(=[A-Za-z0-9+.:~-]+)?$/;

/** The program folder on the host: --source, else the config's app.source (relative to the config). */
export function programFolder(p: Project, a: AppFlags): string {
  if (a.source !== undefined) return resolve(a.source);
  if (p.cfg.app.source !== undefined) return resolve(p.dir, p.cfg.app.source);
  throw new UsageError("app needs the program folder: --source DIR, or app.source in the config");
}

/** The application's name: --name, else app.name, else the program folder's name. */
export function appName(p: Project, a: AppFlags): string {
  const name = a.name || p.cfg.app.name || appNameFromFolder(programFolder(p, a));
  try {
    checkAppName(name);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  return name;
}

/** The program folder exists, holds the entry program, and its packages.txt (if any) lists package names. */
export function checkProgramFolder(p: Project, a: AppFlags): void {
  const dir = programFolder(p, a);
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw new UsageError(`--source ${a.source ?? p.cfg.app.source}: no such folder`);
  const entry = a.entry || p.cfg.app.entry;
  try {
    appEntrypoint(entry);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const entryPath = join(dir, entry);
  if (!existsSync(entryPath) || !statSync(entryPath).isFile())
    throw new UsageError(`--entry ${entry}: no such file in the program folder ${dir}`);
  const list = join(dir, PACKAGES_FILE);
  if (existsSync(list)) {
    readFileSync(list, "utf8")
      .split("\n")
      .forEach((line, i) => {
        for (const word of line.replace(/#.*/, "").trim().split(/\s+/).filter(Boolean)) {
          if (!PACKAGE_NAME.test(word)) throw new UsageError(`${list}:${i + 1}: not a Debian package name: '${word}'`);
        }
      });
  }
}
