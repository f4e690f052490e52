/**
 * pipeline: build C++/CUDA/Python machine-learning frameworks from TypeScript stages.
 *
 * Every function returns a lazy Dagger object, so callers can keep chaining (`export`, `terminal`,
 * `publish`). The `pipeline` CLI calls these same functions and runs their results on Dagger or BuildKit.
 */
import { argument, type Container, dag, type Directory, type File, func, object } from "@dagger.io/dagger";
import { type Config, CONFIG_FILES, parseConfig } from "../modules/config.ts";
import { debianBase, devImage, withAptPackages } from "../modules/toolchain.ts";
import { BUILD_DIR, buildSource, buildTree, cacheVolumes, checkResults, compile, testResults } from "../modules/compile.ts";
import { cpuGuard, imageIsaChecked, isaChecked } from "../modules/checks.ts";
import { docsPython, docsSite } from "../modules/docs.ts";
import { debPackage, packageName } from "../modules/package.ts";
import { ENTRYPOINT_SCRIPT, imageRef, productionImage } from "../modules/image.ts";
import { ArgumentError } from "../modules/errors.ts";
import { selectVariant, type Variant, variantByName } from "../modules/variants.ts";
import { imageSbom } from "../modules/sbom.ts";
import { bookImage } from "../modules/book.ts";
import { jobNameOfImage, jobYaml } from "../modules/k8s.ts";
import { appImage, appNameFromFolder, appRef } from "../modules/app.ts";

@object()
export class Pipeline {
  /** The project's root folder, holding its pipeline.yaml. */
  root: Directory;

  /** The project config's text; when empty, read from pipeline.yaml in the root folder. */
  config: string;

  /** The version when the config sets none. */
  version: string;

  /** The source revision (git commit) the images are labelled with. */
  revision: string;

  /** Seconds since the epoch for package changelogs and SBOM timestamps (reproducible builds). */
  epoch: number;

  /** A label of the build trees' snapshots: a new one makes the next build copy each tree into a new snapshot. */
  snapshot: string;

  constructor(
    /** The project's root folder, holding its pipeline.yaml */
    @argument({ defaultPath: "/" }) root: Directory,
    /** The project config's text (YAML or JSON); read from the root's pipeline.yaml when empty */
    config = "",
    /** The version to use when the config sets none (the CLI passes git describe's) */
    version = "0.0.0",
    /** The source revision for image labels (the CLI passes git's HEAD commit) */
    revision = "unknown",
    /** Seconds since the epoch for changelogs and SBOMs (the CLI passes HEAD's commit time) */
    epoch = 0,
    /** A label of the build trees' snapshots; a new one takes new snapshots (the CLI passes one, new after a build said its snapshot is stale) */
    snapshot = "",
  ) {
    this.root = root;
    this.config = config;
    this.version = version;
    this.revision = revision;
    this.epoch = epoch;
    this.snapshot = snapshot;
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
   * The development image: the whole toolchain, Sphinx, a code browser and sshd (CUDA with gpu).
   *
   * gcc and clang, CMake, Ninja, ccache, Python with headers and pybind11, googletest, Sphinx, GNU Global
   * (htags), sshd (key authentication only), and the CUDA toolkit with --gpu. Its default entrypoint builds a
   * source tree mounted at /src, driven by GPU, AVX and TEST environment variables.
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
   * @param variant A variant by name (cpu, cpu-noavx, gpu, gpu-noavx, or one the config adds); overrides gpu and avx
   */
  @func()
  async build(source?: Directory, gpu = false, avx = true, test = false, variant = ""): Promise<Directory> {
    const { cfg, src } = await this.project(source);
    const v = selectVariant(cfg, { gpu, avx, variant });
    const built = compile(cfg, devImage(cfg, v.cuda), buildSource(cfg, src), v, test, this.snapshot);
    // Without tests, the compile step checked the tree itself.
    return buildTree(test ? isaChecked(cfg, built, v, BUILD_DIR, cacheVolumes(cfg, v, test).buildTree) : built);
  }

  /**
   * Build with tests and run them; returns junit.xml, test.log and status whether or not tests failed.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param gpu Build and test the CUDA code (GPU tests skip themselves where there is no GPU)
   * @param avx Build the AVX kernels
   * @param variant A variant by name; overrides gpu and avx
   * @param emulate Also run the tests on an emulated CPU at the variant's ISA floor (qemu-user; default: the config's checks.emulate)
   */
  @func()
  async testReport(source?: Directory, gpu = false, avx = true, variant = "", emulate = true): Promise<Directory> {
    const { cfg, src } = await this.project(source);
    const v = selectVariant(cfg, { gpu, avx, variant });
    return testResults(cfg, compile(cfg, devImage(cfg, v.cuda), buildSource(cfg, src), v, true, this.snapshot), v, {
      emulate: emulate && cfg.checks.emulate.enabled,
    });
  }

  /**
   * Build with tests and run them; fails naming the failed tests, else returns the test report.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param gpu Build and test the CUDA code (GPU tests skip themselves where there is no GPU)
   * @param avx Build the AVX kernels
   * @param variant A variant by name; overrides gpu and avx
   * @param emulate Also run the tests on an emulated CPU at the variant's ISA floor (qemu-user; default: the config's checks.emulate)
   */
  @func()
  async test(source?: Directory, gpu = false, avx = true, variant = "", emulate = true): Promise<Directory> {
    const { cfg } = await this.project(source);
    return checkResults(devImage(cfg, false), await this.testReport(source, gpu, avx, variant, emulate));
  }

  /**
   * The documentation site: pages, the API reference from the source's comments, notebooks, the code browser.
   *
   * One theme (furo): Sphinx pages at the root (the landing page shows the version and links the code browser), the C++ API from the headers' Doxygen comments, the Python API from the
   * docstrings of the module the config's docs.variant build ships, Markdown and notebook pages (stored
   * outputs), and the hyperlinked source browser under browse/. The same source gives the same bytes.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param strict Warnings are errors: Sphinx's (a broken reference, naming its file and line) and Doxygen's (undocumented public symbols)
   */
  @func()
  async docs(source?: Directory, strict = false): Promise<Directory> {
    const { cfg, src } = await this.project(source);
    const build = docsPython(cfg) ? await this.build(source, false, true, false, cfg.docs.variant) : undefined;
    return docsSite(cfg, devImage(cfg, false), src, build, { strict, epoch: this.epoch });
  }

  /**
   * The Debian package of a build, checked with lintian.
   *
   * NAME[-gpu][-noavx]_VERSION_ARCH.deb with its runtime Depends (from dpkg-shlibdeps); any lintian error
   * fails. Returns a folder with the .deb and the lintian report.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param gpu Package the CUDA build
   * @param avx Package the AVX build; false packages the build with no AVX instructions
   * @param variant A variant by name; overrides gpu and avx
   */
  @func()
  async package(source?: Directory, gpu = false, avx = true, variant = ""): Promise<Directory> {
    const { cfg, src } = await this.project(source);
    const v = selectVariant(cfg, { gpu, avx, variant });
    const built = compile(cfg, devImage(cfg, v.cuda), buildSource(cfg, src), v, false, this.snapshot);
    return debPackage(cfg, devImage(cfg, false), built, v, { sourceDateEpoch: this.epoch });
  }

  /**
   * A production image: the variant's package on the runtime base, no compilers, run as a non-root user.
   *
   * No compiler, headers or build tree; the variant's ISA floor is checked on its files, and its entrypoint
   * refuses a CPU below the floor with a message naming the image to use instead. The entrypoint runs the
   * framework's program, or Python for an argument ending in .py: `docker run -v $PWD:/work IMAGE /work/a.py`.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param variant The variant: cpu, cpu-noavx, gpu, gpu-noavx, or one the config adds
   */
  @func()
  async image(source?: Directory, variant = "cpu"): Promise<Container> {
    const { cfg } = await this.project(source);
    const v = variantByName(cfg, variant);
    const toolchain = devImage(cfg, false);
    const guard = cpuGuard(cfg, toolchain, v, ENTRYPOINT_SCRIPT);
    const image = productionImage(cfg, await this.package(source, false, true, v.name), v, { revision: this.revision }, guard);
    return imageIsaChecked(cfg, toolchain, image, v);
  }

  /**
   * The image's tag by the config's scheme (NAME:VERSION[-gpu][-noavx]).
   *
   * @param variant cpu, cpu-noavx, gpu or gpu-noavx
   */
  @func()
  async imageTag(variant = "cpu"): Promise<string> {
    const { cfg } = await this.project();
    return imageRef(cfg, variantByName(cfg, variant));
  }

  /**
   * The production image's software bill of materials (CycloneDX 1.5 JSON).
   *
   * The Debian packages installed in it, from its own dpkg database, and the project's files with their SHA-256.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param variant cpu, cpu-noavx, gpu or gpu-noavx
   */
  @func()
  async sbom(source?: Directory, variant = "cpu"): Promise<File> {
    const { cfg } = await this.project(source);
    const v = variantByName(cfg, variant);
    return imageSbom(cfg, await this.image(source, v.name), devImage(cfg, false), {
      variant: v.name,
      projectPackage: packageName(cfg, v),
      imageRef: imageRef(cfg, v),
      revision: this.revision,
      epoch: this.epoch,
    });
  }

  /**
   * Every variant the config lists, built in parallel (they share the toolchain layers); with a registry,
   * each is pushed as REGISTRY/NAME:TAG. Returns one line per image: its reference, then the pushed
   * reference with its digest when published.
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param publish A registry (host[:port][/path]) to push the images to
   * @param variant The variants to release (default: the config's list)
   */
  @func()
  async release(source?: Directory, publish = "", variant: string[] = []): Promise<string> {
    const { cfg } = await this.project(source);
    const variants: Variant[] = (variant.length ? variant : cfg.image.variants).map((n) => variantByName(cfg, n));
    const lines = await Promise.all(
      variants.map(async (v) => {
        const ref = imageRef(cfg, v);
        const ctr = await this.image(source, v.name);
        if (!publish) return `${ref}\t${await ctr.sync().then(() => "built")}`;
        return `${ref}\t${await ctr.publish(`${publish.replace(/\/+$/, "")}/${ref}`)}`;
      }),
    );
    return lines.join("\n") + "\n";
  }

  /**
   * The book: Jupyter and the project's notebooks on a production image.
   *
   * `docker run --network host IMAGE` serves it on the configured port (BOOK_PORT changes it).
   *
   * @param source The project's source tree (default: the config's source folder)
   * @param variant The production image it builds on: cpu, cpu-noavx, gpu or gpu-noavx
   * @param port The port Jupyter listens on (default: the config's book.port, 8888)
   */
  @func()
  async book(source?: Directory, variant = "cpu", port = 0): Promise<Container> {
    const { cfg, src } = await this.project(source);
    const v = variantByName(cfg, variant).name;
    if (!Number.isInteger(port) || port < 0 || port > 65535)
      throw new ArgumentError(`--port must be a whole number from 1 to 65535, got ${port}`);
    return bookImage(cfg, await this.image(source, v), src.directory(cfg.book.notebooks), port || cfg.book.port);
  }

  /**
   * An application image: a program folder on a production image.
   *
   * The folder (its entry program, data files, and the Debian packages named in the config's app.packages and
   * the folder's packages.txt) goes on the variant's production image, at /app. The program
   * folder is the last layer, so an edit to it rebuilds one layer. `docker run IMAGE ARGS...` runs the entry
   * program with ARGS as the image's unprivileged user; under `k8s --app` each worker runs it.
   *
   * @param source The program folder (default: the config's app.source)
   * @param entry The program the image runs, relative to the folder: a .py or .sh file (default: the config's app.entry, main.py)
   * @param variant The production image it builds on: cpu, cpu-noavx, gpu or gpu-noavx
   * @param name The application's name, the image's name (default: the config's app.name, else "app"; the CLI passes the folder's name)
   */
  @func()
  async app(source?: Directory, entry = "", variant = "cpu", name = ""): Promise<Container> {
    const { cfg } = await this.project();
    const v = variantByName(cfg, variant);
    const program = source ?? (cfg.app.source !== undefined ? this.root.directory(cfg.app.source) : undefined);
    if (!program) throw new ArgumentError("app needs the program folder: --source DIR, or app.source in the config");
    const appName = name || cfg.app.name || (cfg.app.source !== undefined ? appNameFromFolder(cfg.app.source) : "app");
    return appImage(cfg, await this.image(undefined, v.name), program, {
      name: appName,
      entry: entry || cfg.app.entry,
      variant: v,
    });
  }

  /**
   * The application image's software bill of materials (CycloneDX 1.5 JSON).
   *
   * As for the production image: the Debian packages installed in it (the program's too) and the project's
   * files with their SHA-256.
   *
   * @param source The program folder (default: the config's app.source)
   * @param entry The program the image runs, relative to the folder (default: the config's app.entry)
   * @param variant The production image it builds on: cpu, cpu-noavx, gpu or gpu-noavx
   * @param name The application's name (default: the config's app.name, else "app")
   */
  @func()
  async appSbom(source?: Directory, entry = "", variant = "cpu", name = ""): Promise<File> {
    const { cfg } = await this.project();
    const v = variantByName(cfg, variant);
    const appName = name || cfg.app.name || (cfg.app.source !== undefined ? appNameFromFolder(cfg.app.source) : "app");
    return imageSbom(cfg, await this.app(source, entry, v.name, appName), devImage(cfg, false), {
      variant: v.name,
      projectPackage: packageName(cfg, v),
      imageRef: appRef(cfg, v, appName),
      revision: this.revision,
      epoch: this.epoch,
    });
  }

  /**
   * Kubernetes manifests to run the image as a distributed job: an Indexed Job of N workers and the headless
   * Service they meet through, with the variant's resource requests (a GPU limit for GPU variants),
   * validated against the Kubernetes object schemas. Returns the YAML file (NAME.yaml).
   *
   * @param image The image reference the workers run (for example registry:5000/minipaddle:0.1.0-gpu)
   * @param workers How many workers (pods), 1 to 1000
   * @param variant The image's variant: cpu, cpu-noavx, gpu, gpu-noavx or one the config adds (default: read from its tag); GPU variants get a GPU limit
   * @param app The image is an application image (pipeline app): each worker runs its program with no arguments, and the job is named after the image
   */
  @func()
  async k8s(image: string, workers: number, variant = "", app = false): Promise<File> {
    const { cfg } = await this.project();
    // The manifests need only whether the variant runs on a GPU.
    const v = variant !== "" ? variantByName(cfg, variant) : undefined;
    const name = app ? jobNameOfImage(image) : cfg.name;
    const text = await jobYaml({
      name,
      image,
      workers,
      ...(v ? { variant: v.cuda ? "gpu" : "cpu" } : {}),
      // An application image's entrypoint runs its program; the framework's image runs the configured CLI command.
      args: app ? [] : cfg.k8s.args,
      port: cfg.k8s.port,
    });
    return dag.directory().withNewFile(`${name}.yaml`, text).file(`${name}.yaml`);
  }
}
