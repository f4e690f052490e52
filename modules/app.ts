/**
 * Applications: a user's program folder (its entry program, data files, the Debian packages it needs) on a
 * production image. The image is FROM the variant's production image; the packages are one layer (keyed only
 * by the package list: `app.packages` in the config and the folder's `packages.txt`), the program folder is
 * the last layer, so an edit to the program rebuilds that one layer. Its entrypoint is the production image's
 * (the CPU guard, then entrypoint.sh) with the entry program as first argument: `docker run IMAGE ARGS...`
 * runs `python3 /app/ENTRY ARGS...` as the image's unprivileged user.
 */
import { CacheSharingMode, type Container, dag, type Directory } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { ArgumentError } from "./errors.ts";
import { ENTRYPOINT, IMAGE_UID } from "./image.ts";
import { imageRef, type Variant } from "./variants.ts";

/** Where the program folder lives in the image (its working directory). */
export const APP_DIR = "/app";
/** The program folder's optional list of Debian packages: one name a line, `#` starts a comment. */
export const PACKAGES_FILE = "packages.txt";
/** The label naming an application image's application. */
export const APP_LABEL = "dev.pipeline.app";

const APP_NAME = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** An application name from a folder name: lowercase, runs of other characters as '-', starting with a letter. */
export function appNameFromFolder(folder: string): string {
  const base = folder.replace(/\/+$/, "").split("/").pop() ?? "";
  const name = base
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 50)
    .replace(/-+$/, "");
  return name || "app";
}

/** The application image's reference: NAME:TAG, TAG the production image's tag (0.1.0, 0.1.0-noavx, ...). */
export function appRef(cfg: Config, v: Pick<Variant, "suffix">, name: string): string {
  checkAppName(name);
  const tag = imageRef(cfg, v).split(/:(?=[^:]*$)/)[1]!;
  return `${name}:${tag}`;
}

export function checkAppName(name: string): void {
  if (!APP_NAME.test(name) || name.length > 50) {
    throw new ArgumentError(
      `--name '${name}': an application name is 1 to 50 lowercase letters, digits and '-', starting with a letter`,
    );
  }
}

/** The entrypoint of an application image for its entry program (relative to the program folder). */
export function appEntrypoint(entry: string): string[] {
  if (entry === "" || entry.startsWith("/") || entry.split("/").includes("..")) {
    throw new ArgumentError(`--entry '${entry}': a path inside the program folder (relative, no '..')`);
  }
  if (entry.endsWith(".py")) return [ENTRYPOINT, `${APP_DIR}/${entry}`];
  if (entry.endsWith(".sh")) return [ENTRYPOINT, "sh", `${APP_DIR}/${entry}`];
  throw new ArgumentError(`--entry '${entry}': the entry program must be a Python (.py) or shell (.sh) file`);
}

// Installs the config's packages (arguments) and those the folder's packages.txt lists, if any.
const INSTALL_PACKAGES = `set -e
list=/tmp/pipeline-app/${PACKAGES_FILE}
pkgs="$*"
if [ -f "$list" ]; then pkgs="$pkgs $(sed -e 's/#.*//' "$list" | tr -s ' \\t\\r\\n' '   ')"; fi
set -- $pkgs
[ "$#" -gt 0 ] || exit 0
for p in "$@"; do
  case "$p" in
    [a-z0-9]*) printf '%s\\n' "$p" | grep -Eq '^[a-z0-9][a-z0-9+.:~-]*(=[A-Za-z0-9+.:~-]+)?$' && continue ;;
  esac
  echo "${PACKAGES_FILE}: not a Debian package name: '$p'" >&2; exit 1
done
rm -f /etc/apt/apt.conf.d/docker-clean
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@"
rm -rf /var/cache/apt/*.bin /var/log/apt/* /var/log/dpkg.log /var/cache/debconf/*-old /var/lib/dpkg/*-old
`;

export interface AppOptions {
  /** The application's name (labels). */
  name: string;
  /** The entry program, relative to the program folder. */
  entry: string;
  /** The variant of the production image (its apt cache key: GPU images have non-free sources). */
  variant: Variant;
}

/**
 * The application image: `production` with the Debian packages the program needs and the program folder
 * `program` (the config's excludes left out) at /app, owned by the image's user, who runs it.
 */
export function appImage(cfg: Config, production: Container, program: Directory, opts: AppOptions): Container {
  checkAppName(opts.name);
  const entrypoint = appEntrypoint(opts.entry);
  const locked = { sharing: CacheSharingMode.Locked };
  const cacheKey = opts.variant.cuda ? "apt-runtime-gpu" : "apt-runtime";
  // Only the package list enters the install step, so a program edit never re-runs it.
  const packageList = dag.directory().withDirectory("/", program, { include: [PACKAGES_FILE] });
  const files = dag.directory().withDirectory("/", program, { exclude: cfg.exclude });
  return production
    .withUser("root")
    .withMountedDirectory("/tmp/pipeline-app", packageList)
    .withMountedCache("/var/cache/apt/archives", dag.cacheVolume(`${cacheKey}-archives`), locked)
    .withMountedCache("/var/lib/apt/lists", dag.cacheVolume(`${cacheKey}-lists`), locked)
    .withExec(["sh", "-c", INSTALL_PACKAGES, "app-packages", ...[...new Set(cfg.app.packages)].sort()])
    .withoutMount("/var/cache/apt/archives")
    .withoutMount("/var/lib/apt/lists")
    .withoutMount("/tmp/pipeline-app")
    .withLabel("org.opencontainers.image.title", opts.name)
    .withLabel("org.opencontainers.image.description", `${opts.name}: an application on ${cfg.name} ${cfg.version}`)
    .withLabel(APP_LABEL, opts.name)
    .withUser(`${IMAGE_UID}:${IMAGE_UID}`)
    .withWorkdir(APP_DIR)
    .withEntrypoint(entrypoint)
    .withDefaultArgs([])
    .withDirectory(APP_DIR, files, { owner: `${IMAGE_UID}:${IMAGE_UID}` });
}
