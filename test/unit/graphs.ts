/** Dagger graphs whose translations are pinned by golden files in test/golden/. */
import { CacheSharingMode, dag } from "@dagger.io/dagger";

export const graphs = {
  /** Cache mounts with each sharing mode; the apt cache is locked. */
  "cache-mounts": () =>
    dag
      .container()
      .from("debian:bookworm")
      .withMountedCache("/var/cache/apt", dag.cacheVolume("apt"), { sharing: CacheSharingMode.Locked })
      .withMountedCache("/root/.ccache", dag.cacheVolume("ccache"), { sharing: CacheSharingMode.Shared })
      .withMountedCache("/tmp/scratch", dag.cacheVolume("scratch"), { sharing: CacheSharingMode.Private })
      .withExec(["apt-get", "install", "-y", "g++"])
      .withoutMount("/tmp/scratch")
      .withExec(["ccache", "-s"]),

  /** A file compiled in one container, copied into another. */
  "cross-container-file": () => {
    const builder = dag
      .container()
      .from("debian:bookworm")
      .withWorkdir("/src")
      .withNewFile("hello.c", "int main(void) { return 0; }\n")
      .withExec(["cc", "-o", "hello", "hello.c"]);
    return dag
      .container()
      .from("debian:bookworm-slim")
      .withFile("/usr/local/bin/hello", builder.file("hello"), { permissions: 0o755 })
      .withExec(["/usr/local/bin/hello"]);
  },

  /** Host directories with include/exclude, mounted and copied. */
  "host-directories": () =>
    dag
      .container()
      .from("debian:bookworm")
      .withDirectory(
        "/src",
        dag.host().directory("examples", { include: ["**/*.cc", "**/CMakeLists.txt"], exclude: ["**/build"] }),
      )
      .withMountedDirectory("/docs", dag.host().directory("docs"))
      .withDirectory("/more", dag.host().directory("examples"), { exclude: ["**/*.md"] })
      .withExec(["ls", "-R", "/src", "/docs"]),

  /** New files in a fresh directory and in a container, with modes and owners. */
  "new-files": () =>
    dag
      .directory()
      .withNewFile("etc/app.conf", "key = value $HOME\n")
      .withNewFile("bin/run.sh", "#!/bin/sh\necho run\n", { permissions: 0o755 })
      .withNewDirectory("var/empty")
      .withDirectory("share", dag.container().from("debian:bookworm").directory("/usr/share/doc/bash")),

  /** Secrets as a variable and as a mounted file; neither value appears in the definition. */
  secrets: () =>
    dag
      .container()
      .from("debian:bookworm")
      .withSecretVariable("API_TOKEN", dag.setSecret("api-token", "plaintext-token-value"))
      .withMountedSecret("/run/secrets/key", dag.setSecret("ssh key", "plaintext-key-value"), { mode: 0o400 })
      .withExec(["sh", "-c", 'test -n "$API_TOKEN" && test -s /run/secrets/key']),

  /** Entrypoint, default args, user, labels, ports, env with a literal `$`. */
  "image-config": () =>
    dag
      .container()
      .from("debian:bookworm")
      .withEnvVariable("PRICE", 'costs $5 "quoted"')
      .withEnvVariable("PATH", "/opt/bin:${PATH}", { expand: true })
      .withExec(["useradd", "-m", "app"])
      .withUser("app")
      .withWorkdir("/home/app")
      .withLabel("org.opencontainers.image.version", "1.0 beta")
      .withExposedPort(8888)
      .withDefaultArgs(["--help"])
      .withEntrypoint(["/usr/bin/env", "python3"]),
};
