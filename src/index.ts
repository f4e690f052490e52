/**
 * pipeline: build C++/CUDA/Python machine-learning frameworks from TypeScript stages.
 *
 * Every function returns a lazy Dagger object, so callers can keep chaining (`export`, `terminal`,
 * `publish`). The `pipeline` CLI calls these same functions and runs their results on Dagger or BuildKit.
 */
import { argument, type Container, type Directory, func, object } from "@dagger.io/dagger";
import { type Config, CONFIG_FILES, parseConfig } from "./config.ts";
import { debianBase, devImage, withAptPackages } from "../modules/toolchain.ts";
import { buildSource, buildTree, checkResults, compile, testResults } from "../modules/compile.ts";
import { docsSite } from "../modules/docs.ts";

@object()
export class Pipeline {
  /** The project's root folder, holding its pipeline.yaml. */
  root: Directory;

  /** The project config's text; when empty, read from pipeline.yaml in the root folder. */
  config: string;

  /** The version when the config sets none. */
  version: string;

  constructor(
    /** The project's root folder, holding its pipeline.yaml */
    @argument({ defaultPath: "/" }) root: Directory,
    /** The project config's text (YAML or JSON); read from the root's pipeline.yaml when empty */
    config = "",
    /** The version to use when the config sets none (the CLI passes git describe's) */
    version = "0.0.0",
  ) {
    this.root = root;
    this.config = config;
    this.version = version;
  }

  /** The validated project config and the project's source tree. */
  private async project(source?: Directory): Promise<{ cfg: Config; src: Directory }> {
    const text = this.config || (await this.root.file(CONFIG_FILES[0]!).contents());
    const cfg = parseConfig(text, CONFIG_FILES[0]!, this.version);
    return { cfg, src: source ?? this.root.directory(cfg.source) };
  }

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

  /**
   * The development image: gcc and clang, CMake, Ninja, ccache, Python with headers and pybind11, googletest,
   * Sphinx, GNU Global (htags), sshd (key authentication only), and the CUDA toolkit with --gpu. Its default
   * entrypoint builds a source tree mounted at /src, driven by GPU, AVX and TEST environment variables.
   *
   * @param gpu Include the CUDA toolkit
   */
  @func()
  async devImage(gpu = false): Promise<Container> {
    const { cfg } = await this.project();
    return devImage(cfg, gpu);
  }

  /**
   * Configure and compile the project; returns the build tree (binaries, libraries, Python module).
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param gpu Build the CUDA code (GPU=ON)
   * @param avx Build the AVX kernels (AVX=ON); false builds portable code with no AVX instructions
   * @param test Also build the tests (TEST=ON)
   */
  @func()
  async build(source?: Directory, gpu = false, avx = true, test = false): Promise<Directory> {
    const { cfg, src } = await this.project(source);
    return buildTree(compile(cfg, devImage(cfg, gpu), buildSource(cfg, src), { gpu, avx, test }));
  }

  /**
   * Build with tests and run them; returns junit.xml, test.log and status whether or not tests failed.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param gpu Build and test the CUDA code (GPU tests skip themselves where there is no GPU)
   * @param avx Build the AVX kernels
   */
  @func()
  async testReport(source?: Directory, gpu = false, avx = true): Promise<Directory> {
    const { cfg, src } = await this.project(source);
    return testResults(compile(cfg, devImage(cfg, gpu), buildSource(cfg, src), { gpu, avx, test: true }));
  }

  /**
   * Build with tests and run them; fails naming the failed tests, else returns the test report.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param gpu Build and test the CUDA code (GPU tests skip themselves where there is no GPU)
   * @param avx Build the AVX kernels
   */
  @func()
  async test(source?: Directory, gpu = false, avx = true): Promise<Directory> {
    const { cfg } = await this.project(source);
    return checkResults(devImage(cfg, false), await this.testReport(source, gpu, avx));
  }

  /**
   * The documentation site: Sphinx HTML under api/, the hyperlinked source browser under browse/, and an
   * index page linking both.
   *
   * @param source The project's source tree (default: the config's source folder)
   */
  @func()
  async docs(source?: Directory): Promise<Directory> {
    const { cfg, src } = await this.project(source);
    return docsSite(cfg, devImage(cfg, false), src);
  }
}
