/**
 * The book: an application image FROM a production image, with Jupyter (Debian's jupyter-notebook) and the
 * project's example notebooks, served as the production image's unprivileged user. With host networking
 * (`docker run --network host IMAGE`) it listens on the configured port; BOOK_PORT and BOOK_IP change that
 * at run time, JUPYTER_TOKEN sets the access token (Jupyter prints a generated one otherwise).
 */
import type { Container, Directory } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { withAptPackages } from "./apt.ts";
import { IMAGE_UID } from "./image.ts";

export const BOOK_DIR = "/book";

const BOOK_ENTRYPOINT = `#!/bin/sh
# The book: Jupyter over the notebooks in ${BOOK_DIR}.
#   BOOK_PORT (default: the configured port), BOOK_IP (default 0.0.0.0), JUPYTER_TOKEN (default: generated)
set -e
export HOME="\${HOME:-/tmp}"
exec jupyter notebook --no-browser --ip="\${BOOK_IP:-0.0.0.0}" --port="\${BOOK_PORT}" --port-retries=0 \\
  --notebook-dir=${BOOK_DIR} "$@"
`;

/** The book image over `production` (a production image) with the notebooks folder `notebooks`, serving on `port`. */
export function bookImage(cfg: Config, production: Container, notebooks: Directory, port = cfg.book.port): Container {
  return withAptPackages(production.withUser("root"), ["jupyter-notebook", ...cfg.book.packages], "apt-runtime")
    .withDirectory(BOOK_DIR, notebooks, { owner: `${IMAGE_UID}:${IMAGE_UID}` })
    .withNewFile("/usr/local/bin/book", BOOK_ENTRYPOINT, { permissions: 0o755 })
    .withEnvVariable("BOOK_PORT", String(port))
    .withExposedPort(port)
    .withLabel("org.opencontainers.image.title", `${cfg.name} book`)
    .withUser(`${IMAGE_UID}:${IMAGE_UID}`)
    .withWorkdir(BOOK_DIR)
    .withEntrypoint(["/usr/local/bin/book"])
    .withDefaultArgs([]);
}
