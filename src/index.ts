/**
 * pipeline: build C++/CUDA/Python machine-learning frameworks from TypeScript stages.
 *
 * Every function returns a lazy Dagger object, so callers can keep chaining (`export`, `terminal`,
 * `publish`). The `pipeline` CLI calls these same functions and runs their results on Dagger or BuildKit.
 */
import { type Container, func, object } from "@dagger.io/dagger";
import { debianBase, withAptPackages } from "../modules/toolchain.ts";

@object()
export class Pipeline {
  /**
   * A Debian base container, the root of every toolchain image.
   *
   * @param suite Debian suite to start from (for example bookworm)
   */
  @func()
  base(suite = "bookworm"): Container {
    return debianBase(suite);
  }

  /**
   * A Debian container with extra packages installed through a shared apt cache.
   *
   * @param packages Debian package names to install
   * @param suite Debian suite to start from (for example bookworm)
   */
  @func()
  toolbox(packages: string[], suite = "bookworm"): Container {
    return withAptPackages(debianBase(suite), packages);
  }
}
