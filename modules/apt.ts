/**
 * The bottom of every image: a Debian base container, and apt installs that share one package cache across
 * builds. Plain functions over the Dagger SDK: they compose lazy objects and run nothing.
 */
import { CacheSharingMode, type Container, dag } from "@dagger.io/dagger";
import { ArgumentError } from "./errors.ts";

const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.:~-]*(=[A-Za-z0-9+.:~-]+)?$/;

/** A Debian container for `suite`, non-interactive for apt. */
export function debianBase(suite = "bookworm", image = `debian:${suite}`): Container {
  return dag.container().from(image).withEnvVariable("DEBIAN_FRONTEND", "noninteractive");
}

/**
 * Installs Debian packages with apt's download cache and lists on locked cache volumes, so a change to the
 * package list downloads only what is new. The volumes are unmounted afterwards: they never enter the image.
 */
export function withAptPackages(ctr: Container, packages: string[], cacheKey = "apt"): Container {
  if (packages.length === 0) return ctr;
  const bad = packages.find((p) => !PACKAGE_NAME.test(p));
  if (bad !== undefined) throw new ArgumentError(`not a Debian package name: '${bad}'`);
  const locked = { sharing: CacheSharingMode.Locked };
  return ctr
    .withMountedCache("/var/cache/apt/archives", dag.cacheVolume(`${cacheKey}-archives`), locked)
    .withMountedCache("/var/lib/apt/lists", dag.cacheVolume(`${cacheKey}-lists`), locked)
    .withExec([
      "sh",
      "-c",
      'rm -f /etc/apt/apt.conf.d/docker-clean && apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@"',
      "apt-install",
      ...[...new Set(packages)].sort(),
    ])
    .withoutMount("/var/cache/apt/archives")
    .withoutMount("/var/lib/apt/lists");
}
