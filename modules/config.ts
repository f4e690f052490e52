/**
 * The project config: one file at the project's root (`pipeline.yaml`, or `pipeline.json`), validated here.
 * Both the Dagger module and the CLI read it. Defaults build the example framework with a minimal file;
 * every key can be set for another CMake project.
 */
import { z } from "zod";
import { parse as parseYaml } from "yaml";
import { ConfigError } from "./errors.ts";
import { ISA_LEVELS } from "./isa.ts";
import { variantProblem } from "./variants.ts";

const packageName = z.string().regex(/^[a-z0-9][a-z0-9+.:~-]*$/, "a Debian package name");
const imageRef = z.string().regex(/^[a-z0-9][a-z0-9._\/:@-]*$/i, "an image reference such as debian:bookworm");
const cmakeVar = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "a CMake variable name");
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "an environment variable name");
/** The name of a value of a variant axis: lowercase letters and digits (variant names join them with '-'). */
const valueName = z.string().regex(/^[a-z][a-z0-9]*$/, "a value name of lowercase letters and digits, such as noavx");
const variantValue = {
  /** CMake configure arguments of this value, any number (for example -DNCNN_AVX2=OFF). */
  cmake: z.array(z.string()).default([]),
  /** Environment of this value's configure, build and test steps. */
  env: z.record(envName, z.string()).default({}),
};
const accelValue = z
  .object({
    ...variantValue,
    /** Builds with the CUDA toolkit, and its images carry the CUDA runtime (default: true for the value named gpu). */
    cuda: z.boolean().optional(),
  })
  .strict();
const isaValue = z
  .object({
    ...variantValue,
    /** The oldest CPU this value's binaries must run on (default: x86-64-v3 for avx, x86-64-v2 for noavx). */
    floor: z.enum(ISA_LEVELS).optional(),
  })
  .strict();
const relPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes(".."), "a path inside the project (relative, no '..')");

/** What every build input leaves out; a config's `exclude` adds to these. */
export const DEFAULT_EXCLUDE = ["build", "build-*", ".git", "**/__pycache__"];

export const ConfigSchema = z
  .object({
    /** Project name: package and image names derive from it. */
    name: z.string().regex(/^[a-z0-9][a-z0-9.+-]*$/, "a lowercase name (letters, digits, . + -)"),
    /** Version; when absent, `git describe` of the project decides (else 0.0.0). */
    version: z
      .string()
      .regex(/^[0-9][A-Za-z0-9.+~-]*$/, "a version starting with a digit, such as 1.2.0")
      .optional(),
    /** The CMake source tree, relative to the config file. */
    source: relPath.default("."),
    /**
     * Paths (patterns) left out of every build input, in addition to the defaults, which are always left out:
     * `build`, `build-*`, `.git` and every `__pycache__` folder (DEFAULT_EXCLUDE).
     */
    exclude: z
      .array(z.string())
      .default([])
      .transform((extra) => [...new Set([...DEFAULT_EXCLUDE, ...extra])]),
    images: z
      .object({
        /** Base of the CPU development image. */
        build: imageRef.default("debian:bookworm"),
        /** Base of the GPU development image; when absent, CUDA comes from Debian's packages (`cuda.source`). */
        cudaDevel: imageRef.optional(),
        /** Base of the CPU production images. */
        runtime: imageRef.default("debian:bookworm-slim"),
        /** Base of the GPU production images; when absent, the CPU runtime plus Debian's CUDA runtime libraries. */
        cudaRuntime: imageRef.optional(),
      })
      .strict()
      .default({ build: "debian:bookworm", runtime: "debian:bookworm-slim" }),
    /** Image mirror map for offline use: image as named above -> image that resolves here. */
    mirrors: z.record(z.string(), imageRef).default({}),
    toolchain: z
      .object({
        /** Extra Debian packages for the development image. */
        packages: z.array(packageName).default([]),
        /** Extra Debian packages for the GPU development image only. */
        gpuPackages: z.array(packageName).default([]),
      })
      .strict()
      .default({ packages: [], gpuPackages: [] }),
    cuda: z
      .object({
        /** Where nvcc comes from: Debian's non-free nvidia-cuda-toolkit, or the `images.cudaDevel` image. */
        source: z.enum(["debian", "image"]).default("debian"),
        /** CUDA architectures to compile device code for. */
        architectures: z
          .array(z.string().regex(/^\d+(-real|-virtual)?$/, "an architecture such as 80"))
          .min(1)
          .default(["70", "80"]),
        /** nvcc's host compiler (Debian's CUDA 11.8 needs g++ 11 or older). */
        hostCompiler: z.string().default("g++-11"),
      })
      .strict()
      .default({ source: "debian", architectures: ["70", "80"], hostCompiler: "g++-11" }),
    /**
     * Build variants as data: each value of each axis carries its own CMake arguments and environment.
     * `accel` values (cpu, gpu, ...) and `isa` values (avx, noavx, ...) combine into variant names: cpu,
     * cpu-noavx, gpu, gpu-noavx. A value not listed here gets the `cmake.options` shorthand (one option set to
     * ON or OFF); `false` removes a value (a project without CUDA: `gpu: false`).
     */
    variants: z
      .object({
        accel: z.record(valueName, z.union([accelValue, z.literal(false)])).default({}),
        isa: z.record(valueName, z.union([isaValue, z.literal(false)])).default({}),
      })
      .strict()
      .default({ accel: {}, isa: {} }),
    /** What the pipeline checks of each variant it builds. */
    checks: z
      .object({
        /** Disassemble every ELF file a variant ships and fail on instructions above its ISA floor. */
        isa: z.boolean().default(true),
        /** Files (globs, relative to the build tree or the install root) the ISA check skips: runtime-dispatched code. */
        exempt: z.array(z.string()).default([]),
        /** Check the CUDA architectures embedded in GPU builds (cuobjdump) against cuda.architectures. */
        cuda: z.boolean().default(true),
        /** The `test` stage's run of the tests under an emulated CPU at the variant's floor (qemu-user). */
        emulate: z
          .object({
            enabled: z.boolean().default(true),
            /** Only the tests whose names match this regular expression (ctest -R); default: all. */
            tests: z.string().default(""),
            /** A smoke command run under emulation instead of the tests (its first word an ELF program). */
            command: z.array(z.string()).default([]),
          })
          .strict()
          .default({ enabled: true, tests: "", command: [] }),
      })
      .strict()
      .default({ isa: true, exempt: [], cuda: true, emulate: { enabled: true, tests: "", command: [] } }),
    cmake: z
      .object({
        /** The CMake options the GPU/AVX/TEST switches set to ON or OFF (a shorthand for `variants`). */
        options: z
          .object({
            gpu: cmakeVar.default("WITH_GPU"),
            avx: cmakeVar.default("WITH_AVX"),
            test: cmakeVar.default("WITH_TESTING"),
          })
          .strict()
          .default({ gpu: "WITH_GPU", avx: "WITH_AVX", test: "WITH_TESTING" }),
        generator: z.string().default("Ninja"),
        buildType: z.string().default("Release"),
        /** Extra configure arguments, such as -DFOO=ON. */
        args: z.array(z.string()).default([]),
        /**
         * Build-tree run paths relative to each binary (`$ORIGIN/...`, CMAKE_BUILD_RPATH_USE_ORIGIN) instead of
         * the absolute `/src/build`, so an exported build tree runs from any folder. `false` leaves CMake's default.
         */
        originRpath: z.boolean().default(true),
      })
      .strict()
      .default({
        options: { gpu: "WITH_GPU", avx: "WITH_AVX", test: "WITH_TESTING" },
        generator: "Ninja",
        buildType: "Release",
        args: [],
        originRpath: true,
      }),
    test: z
      .object({
        /** The test command, run in the build tree. */
        command: z.array(z.string()).min(1).default(["ctest", "--output-on-failure", "--output-junit", "junit.xml"]),
        /** The ctest label of tests that need a GPU: left out where there is none. */
        gpuLabel: z.string().default("gpu"),
      })
      .strict()
      .default({ command: ["ctest", "--output-on-failure", "--output-junit", "junit.xml"], gpuLabel: "gpu" }),
    docs: z
      .object({
        /** The Sphinx source folder (left out of the build's input, so a docs edit re-runs only Sphinx). */
        sphinx: relPath.default("docs"),
        /** The project has no Sphinx folder: the stage writes a minimal one (an index, the C++ and Python API pages, the notebooks). */
        generate: z.boolean().default(false),
        /** Source folders (or single files: an entry ending in .h, .cpp, .cu, ...) for the hyperlinked code browser (browse/). */
        browse: z.array(relPath).default(["include", "src"]),
        /** Folders whose C/C++ headers Doxygen reads for the C++ API, or single headers (`src/net.h`); breathe directives in the docs; [] for none. */
        doxygen: z.array(relPath).default(["include"]),
        /** The headers document their API with plain `//` comments, not Doxygen's `///` ones (as ncnn's do): a `//` block directly above a declaration documents it. */
        plainComments: z.boolean().default(false),
        /** Macros Doxygen's preprocessor defines (`NAME=VALUE`, `NAME=` for empty: export and inline macros, feature switches such as `NCNN_STRING=1`); only these are expanded. */
        defines: z
          .array(z.string().regex(/^[A-Za-z_]\w*(\([\w, ]*\))?(=.*)?$/, "a macro definition such as NAME=VALUE"))
          .default([]),
        /** The Python module autodoc documents, imported from the build tree of `variant` ("" for none; default: the project's name). */
        python: z
          .string()
          .regex(/^([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)?$/, "a Python module name such as 'minipaddle', or ''")
          .optional(),
        /** Where in the build tree the Python package lies (put on PYTHONPATH). */
        pythonPath: relPath.default("python"),
        /** The build whose Python module is documented (what ships). */
        variant: z.string().default("cpu"),
        /** A folder of Jupyter notebooks shown as pages with their stored outputs (never executed), at notebooks/ in the docs; "" for none. */
        notebooks: z.union([relPath, z.literal("")]).default("notebooks"),
      })
      .strict()
      .default({
        sphinx: "docs",
        generate: false,
        browse: ["include", "src"],
        doxygen: ["include"],
        plainComments: false,
        defines: [],
        pythonPath: "python",
        variant: "cpu",
        notebooks: "notebooks",
      }),
    package: z
      .object({
        /** The Maintainer field: "Name <email>". */
        maintainer: z
          .string()
          .regex(/^[^<>\n]+ <[^<>@\s]+@[^<>\s]+>$/, "a maintainer such as 'Name <name@example.org>'")
          .default("Maintainers <maintainers@example.org>"),
        /** The one-line synopsis (default: the name and the variant). */
        summary: z
          .string()
          .regex(/^[^\n]{1,80}$/, "one line of at most 80 characters")
          .optional(),
        /** The long description. */
        description: z.string().default("A machine-learning framework"),
        homepage: z.string().url().optional(),
        section: z.string().default("science"),
        /** SPDX license name; Debian's common-licenses text is referenced when it has it. */
        license: z.string().default("Apache-2.0"),
        /** The license text, relative to the source tree, when Debian has no common copy of it. */
        licenseFile: relPath.optional(),
        /** The Copyright field (default: the maintainer). */
        copyright: z.string().optional(),
        /** Extra runtime Depends, beyond the shared libraries and Python found by dpkg-shlibdeps. */
        depends: z.array(z.string()).default([]),
        /** Extra runtime Depends of the GPU packages. */
        gpuDepends: z.array(z.string()).default([]),
      })
      .strict()
      .default({
        maintainer: "Maintainers <maintainers@example.org>",
        description: "A machine-learning framework",
        section: "science",
        license: "Apache-2.0",
        depends: [],
        gpuDepends: [],
      }),
    image: z
      .object({
        /** Production image name (default: the project name). */
        name: imageRef.optional(),
        /** The program the production image runs. */
        entrypoint: z.array(z.string()).min(1).optional(),
        /** Variants to release (names of `variants`: accel value, then -isa value unless it is avx). */
        variants: z.array(z.string()).min(1).default(["cpu", "cpu-noavx", "gpu", "gpu-noavx"]),
        /** Tag scheme: {version} and {variant} (the suffix: "", -noavx, -gpu, -gpu-noavx). */
        tag: z
          .string()
          .regex(/^[A-Za-z0-9_.{}-]+$/, "a tag template such as {version}{variant}")
          .default("{version}{variant}"),
        /** The unprivileged user the image runs as (uid 1000). */
        user: z
          .string()
          .regex(/^[a-z_][a-z0-9_-]{0,31}$/, "a user name")
          .default("app"),
        /** What the CUDA images require of the host driver (NVIDIA_REQUIRE_CUDA). */
        requireCuda: z.string().default("cuda>=11.8"),
      })
      .strict()
      .default({
        variants: ["cpu", "cpu-noavx", "gpu", "gpu-noavx"],
        tag: "{version}{variant}",
        user: "app",
        requireCuda: "cuda>=11.8",
      }),
    book: z
      .object({
        /** Notebooks folder, relative to the source tree. */
        notebooks: relPath.default("notebooks"),
        /** The port Jupyter listens on (BOOK_PORT overrides it at run time). */
        port: z.number().int().min(1).max(65535).default(8888),
        /** Extra Debian packages for the book (for example python3-numpy). */
        packages: z.array(packageName).default([]),
      })
      .strict()
      .default({ notebooks: "notebooks", port: 8888, packages: [] }),
    app: z
      .object({
        /** The application's program folder, relative to the config file (`app --source` overrides it). */
        source: relPath.optional(),
        /** The application's name: its image is NAME:TAG, TAG the production image's (default: the program folder's name). */
        name: z
          .string()
          .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, "a lowercase name (letters, digits, -), starting with a letter")
          .optional(),
        /** The program the image runs, relative to the program folder: a .py file (Python) or a .sh file. */
        entry: relPath.default("main.py"),
        /** Debian packages the program needs, besides any its folder's packages.txt lists. */
        packages: z.array(packageName).default([]),
      })
      .strict()
      .default({ entry: "main.py", packages: [] }),
    k8s: z
      .object({
        /** The arguments each worker runs (the image's entrypoint runs the framework's CLI). */
        args: z.array(z.string()).min(1).default(["train"]),
        /** The port workers meet on. */
        port: z.number().int().min(1).max(65535).default(29500),
      })
      .strict()
      .default({ args: ["train"], port: 29500 }),
  })
  .strict();

export type Config = z.output<typeof ConfigSchema> & { version: string };

export { ConfigError };

/** Config file names looked for at a project's root, in order. */
export const CONFIG_FILES = ["pipeline.yaml", "pipeline.yml", "pipeline.json"];

/**
 * Parses and validates config text. `file` names it in errors; `fallbackVersion` is used when the file
 * sets none. Throws ConfigError: "FILE: at 'key.path': what was expected".
 */
export function parseConfig(text: string, file: string, fallbackVersion = "0.0.0"): Config {
  let data: unknown;
  try {
    data = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(
      `${file}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"}: ${(err as Error).message.split("\n")[0]}`,
    );
  }
  const parsed = ConfigSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issue = leafIssue(parsed.error.issues[0]!);
    const where = issue.path.length ? issue.path.join(".") : "(top level)";
    throw new ConfigError(`${file}: at '${where}': ${describeIssue(issue)}`);
  }
  const cfg = { ...parsed.data, version: parsed.data.version ?? fallbackVersion };
  const problem = variantProblem(cfg);
  if (problem) throw new ConfigError(`${file}: at '${problem[0]}': ${problem[1]}`);
  return cfg;
}

/**
 * The issue that says what was expected: for a union (a value or `false`), the branch that got furthest; for a
 * bad record key, the key's own issue; with the full key path.
 */
function leafIssue(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code === "invalid_union" && issue.errors.length) {
    const branches = issue.errors.filter(
      (b) => b.length && !(b[0]!.code === "invalid_value" || (b[0]!.code === "invalid_type" && b[0]!.path.length === 0)),
    );
    const best = (branches.length ? branches : issue.errors).map((b) => b[0]!).sort((a, b) => b.path.length - a.path.length)[0];
    if (best) return leafIssue({ ...best, path: [...issue.path, ...best.path] });
  }
  if (issue.code === "invalid_key" && issue.issues.length) {
    const inner = issue.issues[0]!;
    return { ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue;
  }
  return issue;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys")
    return `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}`;
  if (issue.code === "invalid_type") return `expected ${issue.expected}`;
  return issue.message.replace(/^Invalid string: must match pattern .*$/, "invalid value");
}
