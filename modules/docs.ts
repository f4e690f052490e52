/**
 * The docs stage: one site, in one theme (furo), built by Sphinx at its root, with the hyperlinked code browser
 * (GNU Global's htags) under browse/. The C++ API comes from the headers' Doxygen comments (Doxygen XML read by
 * breathe), the Python API from the docstrings of the module the build ships (autodoc, importing it from the
 * variant's build tree), Markdown pages through MyST and notebooks through nbsphinx with their stored outputs.
 *
 * Each step reads only its own inputs: Doxygen the header folders, htags the browsed folders, the build its
 * source without the docs folder, Sphinx the docs folder and the others' results. So a `.rst`/`.md` edit
 * re-runs Sphinx alone, and a header edit re-runs Doxygen, htags and Sphinx (and the build it compiles in).
 * Nothing in the output carries a build time: the same source gives the same bytes.
 */
import { posix } from "node:path";
import { type Container, dag, type Directory } from "@dagger.io/dagger";
import type { Config } from "./config.ts";
import { scriptText } from "./scripts.ts";

/** Where the steps put their inputs and outputs inside the development image. */
const CODE = "/code";
/**
 * Where Doxygen and Sphinx write what the stage takes out of their containers. BuildKit keys the copy of a
 * folder out of a container by walking the folder that holds it: under / that is the whole development image.
 */
const DOXYGEN_OUT = "/run/pipeline-doxygen";
const SITE_OUT = "/run/pipeline-site";
const XML = "/doxygen/xml";
const CONF = "/pipeline-docs";
const DOCS = "/docs";
const BUILD = "/build";
const BROWSE_MAP = "/browse-map/FILEMAP";

export interface DocsOptions {
  /** Warnings are errors: Sphinx's (-W --keep-going) and Doxygen's (undocumented public symbols). */
  strict: boolean;
  /** Seconds since the epoch that dates the site wherever a tool writes a date (SOURCE_DATE_EPOCH). */
  epoch: number;
}

/** The Python module the docs document ("" for none): the config's, else the project's name. */
export function docsPython(cfg: Config): string {
  return cfg.docs.python ?? cfg.name.replace(/-/g, "_");
}

/**
 * Whether a docs.doxygen or docs.browse entry names one file rather than a folder: it ends in a C, C++ or CUDA
 * header or source suffix (`src/net.h`, `src/net.cpp`). Any other entry is a folder, read recursively.
 */
export function isFileEntry(path: string): boolean {
  return /\.(h|hh|hpp|hxx|cuh|c|cc|cpp|cxx|cu)$/.test(path);
}

/** The config's entries (folders and single files) of `source`, at the same paths in a tree of their own. */
function entriesOf(source: Directory, paths: string[]): Directory {
  let tree = dag.directory();
  for (const p of paths) tree = isFileEntry(p) ? tree.withFile(p, source.file(p)) : tree.withDirectory(p, source.directory(p));
  return tree;
}

/**
 * docs.plainComments: Doxygen's INPUT_FILTER turns each line that starts with a `//` comment into a `///` one,
 * so a block of plain comments directly above a declaration documents it. A file's leading comment block (its
 * license) stays as it is, and so do `///` and `//!` lines.
 */
export const PLAIN_COMMENTS_FILTER = "sed -E '0,/^[[:space:]]*[^/[:space:]]/b;/^[[:space:]]*[/][/][/!]/b;s#^[[:space:]]*//#&/#'";

/** The Doxyfile: XML only, from the config's folders and files, warnings (undocumented public symbols too) to a log. */
export function doxyfile(cfg: Config, where: { code: string; out: string } = { code: CODE, out: "/doxygen" }): string {
  const folders = [...new Set(cfg.docs.doxygen.map((p) => (isFileEntry(p) ? posix.dirname(p) : p)))];
  return [
    `PROJECT_NAME = ${JSON.stringify(cfg.name)}`,
    `PROJECT_NUMBER = ${JSON.stringify(cfg.version)}`,
    `INPUT = ${cfg.docs.doxygen.map((p) => `${where.code}/${p}`).join(" ")}`,
    "RECURSIVE = YES",
    "FILE_PATTERNS = *.h *.hh *.hpp *.hxx *.cuh",
    ...(cfg.docs.plainComments ? [`INPUT_FILTER = ${JSON.stringify(PLAIN_COMMENTS_FILTER)}`] : []),
    `STRIP_FROM_PATH = ${where.code}`,
    // An include is written relative to a header folder (a file entry's own folder).
    `STRIP_FROM_INC_PATH = ${folders.map((p) => (p === "." ? where.code : `${where.code}/${p}`)).join(" ")}`,
    `OUTPUT_DIRECTORY = ${where.out}`,
    "GENERATE_XML = YES",
    "XML_OUTPUT = xml",
    "GENERATE_HTML = NO",
    "GENERATE_LATEX = NO",
    "HTML_TIMESTAMP = NO",
    "EXTRACT_ALL = NO",
    "EXTRACT_PRIVATE = NO",
    "EXTRACT_STATIC = YES",
    "JAVADOC_AUTOBRIEF = YES",
    "ENABLE_PREPROCESSING = YES",
    ...(cfg.docs.defines.length
      ? [
          "MACRO_EXPANSION = YES",
          "EXPAND_ONLY_PREDEF = YES",
          `PREDEFINED = ${cfg.docs.defines.map((d) => JSON.stringify(d)).join(" ")}`,
        ]
      : []),
    "QUIET = YES",
    "WARNINGS = YES",
    "WARN_IF_UNDOCUMENTED = YES",
    "WARN_IF_DOC_ERROR = YES",
    "WARN_NO_PARAMDOC = NO",
    `WARN_LOGFILE = ${where.out}/warnings.log`,
    "",
  ].join("\n");
}

/** Doxygen's XML of the config's header folders and files, and its warnings in xml/../warnings.log; reads nothing else. */
export function doxygenXml(cfg: Config, dev: Container, source: Directory): Directory {
  return dev
    .withDirectory(CODE, entriesOf(source, cfg.docs.doxygen))
    .withNewFile(`${DOXYGEN_OUT}/Doxyfile`, doxyfile(cfg, { code: CODE, out: DOXYGEN_OUT }))
    .withWorkdir(CODE)
    .withExec([
      "sh",
      "-c",
      `doxygen ${DOXYGEN_OUT}/Doxyfile && sed -i 's#${CODE}/##' ${DOXYGEN_OUT}/warnings.log && rm ${DOXYGEN_OUT}/Doxyfile`,
    ])
    .directory(DOXYGEN_OUT);
}

/** The hyperlinked code browser of the config's browse folders and files, with htags' FILEMAP (source path -> page). */
export function codeBrowser(cfg: Config, dev: Container, source: Directory): Directory {
  const tree = entriesOf(source, cfg.docs.browse);
  const title = JSON.stringify(`${cfg.name} ${cfg.version} source`);
  return (
    dev
      .withDirectory(CODE, tree)
      .withWorkdir(CODE)
      // htags dates its index pages ("Last updated ..."): that line goes, so the same source gives the same bytes.
      .withExec([
        "sh",
        "-c",
        `gtags && htags --suggest --title ${title} && rm -f GPATH GRTAGS GTAGS && sed -i 's#Last updated [^<]*<br />##' HTML/*.html`,
      ])
      .directory(`${CODE}/HTML`)
  );
}

/** The pages of a minimal docs folder for a project that has none: an index, the C++ and Python API pages, the notebooks. */
export function generatedPages(cfg: Config): Record<string, string> {
  const python = docsPython(cfg);
  const pages = [
    ...(cfg.docs.doxygen.length ? ["cpp"] : []),
    ...(python ? ["python"] : []),
    ...(cfg.docs.notebooks ? ["notebooks/*"] : []),
  ];
  const underline = (s: string, c: string) => `${s}\n${c.repeat(s.length)}\n`;
  const files: Record<string, string> = {
    "index.rst":
      `${underline(`${cfg.name} ${cfg.version}`, "=")}\nThe ${cfg.name} API reference, made from its source by pipeline.\n\n` +
      `.. toctree::\n   :maxdepth: 2\n${cfg.docs.notebooks ? "   :glob:\n" : ""}\n${pages.map((p) => `   ${p}`).join("\n")}\n`,
  };
  if (cfg.docs.doxygen.length) files["cpp.rst"] = `${underline("C++ API", "=")}\n.. doxygenindex::\n`;
  if (python)
    files["python.rst"] = `${underline("Python API", "=")}\n.. automodule:: ${python}\n   :members:\n   :undoc-members:\n`;
  return files;
}

/** The docs folder Sphinx reads: the project's, or a generated one (docs.generate). */
function docsFolder(cfg: Config, source: Directory): Directory {
  if (!cfg.docs.generate) return source.directory(cfg.docs.sphinx);
  let dir = dag.directory();
  for (const [name, text] of Object.entries(generatedPages(cfg))) dir = dir.withNewFile(name, text);
  return dir;
}

/** settings.json for modules/scripts/sphinx_conf.py. */
export function sphinxSettings(
  cfg: Config,
  where: { docs: string; xml: string; code: string; browseMap: string } = {
    docs: DOCS,
    xml: XML,
    code: CODE,
    browseMap: BROWSE_MAP,
  },
): string {
  return `${JSON.stringify(
    {
      project: cfg.name,
      version: cfg.version,
      docs: where.docs,
      xml: cfg.docs.doxygen.length ? where.xml : "",
      xmlStrip: `${where.code}/`,
      python: docsPython(cfg),
      browseMap: cfg.docs.browse.length ? where.browseMap : "",
    },
    null,
    2,
  )}\n`;
}

/** The shell line that runs Sphinx: warnings name the project's files, not the container's. */
export function sphinxCommand(cfg: Config, opts: { strict: boolean; out: string }): string {
  const docsPath = cfg.docs.generate ? "(generated docs)/" : `${cfg.docs.sphinx}/`;
  const flags = opts.strict ? "-W --keep-going " : "";
  const undocumented =
    `if [ -s /doxygen/warnings.log ]; then n=$(grep -c "warning:" /doxygen/warnings.log); ` +
    `echo "Doxygen: $n warnings (undocumented or badly documented public symbols)\${n:+; the first 50:}" >&2; ` +
    `grep "warning:" /doxygen/warnings.log | head -n 50 | sed 's#^#  #' >&2; ` +
    (opts.strict ? "status=1; fi; " : "fi; ");
  return (
    "set -o pipefail; status=0; " +
    (cfg.docs.doxygen.length ? undocumented : "") +
    `sphinx-build -q ${flags}-b html -c ${CONF} -d /tmp/doctrees -D version=${cfg.version} -D release=${cfg.version} ${DOCS} ${opts.out} 2>&1 ` +
    `| sed 's#${DOCS}/#${docsPath}#g' >&2 || status=1; ` +
    `rm -f ${opts.out}/.buildinfo; exit $status`
  );
}

/**
 * The Sphinx container: the docs folder (or a generated one) with the notebooks, the pipeline's configuration
 * over the project's conf.py, the Doxygen XML, htags' MAP and the build tree (its Python module importable).
 */
export function sphinxInputs(
  cfg: Config,
  dev: Container,
  source: Directory,
  parts: { xml?: Directory; browse?: Directory; build?: Directory; epoch: number },
): Container {
  let docs = docsFolder(cfg, source);
  if (cfg.docs.notebooks) docs = docs.withDirectory("notebooks", source.directory(cfg.docs.notebooks));
  let ctr = dev
    .withEnvVariable("SOURCE_DATE_EPOCH", String(parts.epoch))
    .withEnvVariable("PYTHONDONTWRITEBYTECODE", "1")
    .withNewFile(`${CONF}/conf.py`, scriptText("sphinx_conf.py"))
    .withNewFile(`${CONF}/settings.json`, sphinxSettings(cfg))
    .withDirectory(DOCS, docs);
  if (parts.xml) ctr = ctr.withMountedDirectory("/doxygen", parts.xml);
  if (parts.browse) ctr = ctr.withMountedFile(BROWSE_MAP, parts.browse.file("FILEMAP"));
  if (parts.build)
    ctr = ctr.withMountedDirectory(BUILD, parts.build).withEnvVariable("PYTHONPATH", `${BUILD}/${cfg.docs.pythonPath}`);
  return ctr.withWorkdir(DOCS);
}

/** The Sphinx HTML of the docs (the site's root pages). */
export function sphinxSite(
  cfg: Config,
  dev: Container,
  source: Directory,
  parts: { xml?: Directory; browse?: Directory; build?: Directory },
  opts: DocsOptions,
): Directory {
  return sphinxInputs(cfg, dev, source, { ...parts, epoch: opts.epoch })
    .withExec(["bash", "-c", sphinxCommand(cfg, { strict: opts.strict, out: SITE_OUT })])
    .directory(SITE_OUT);
}

/**
 * The whole site: Sphinx's pages at the root (the landing page is the docs' index, in the same theme, with the
 * version, linking the code browser), the code browser under browse/. `build` is the variant's build tree whose
 * Python module autodoc imports (none: no Python API).
 */
export function docsSite(
  cfg: Config,
  dev: Container,
  source: Directory,
  build: Directory | undefined,
  opts: DocsOptions,
): Directory {
  const browse = cfg.docs.browse.length ? codeBrowser(cfg, dev, source) : undefined;
  const xml = cfg.docs.doxygen.length ? doxygenXml(cfg, dev, source) : undefined;
  let site = sphinxSite(cfg, dev, source, { xml, browse, build: docsPython(cfg) ? build : undefined }, opts);
  if (browse) site = site.withDirectory("browse", browse);
  return site;
}

/** `docs --serve`: the files of the configuration folder mounted at /pipeline-docs, for a source tree at /src. */
export function serveFiles(cfg: Config): Record<string, string> {
  const files: Record<string, string> = {
    "conf.py": scriptText("sphinx_conf.py"),
    "settings.json": sphinxSettings(cfg, { docs: "/tmp/docs", xml: "/tmp/doxygen/xml", code: SRC_MOUNT, browseMap: "" }),
  };
  if (cfg.docs.doxygen.length) {
    files.Doxyfile = doxyfile(cfg, { code: SRC_MOUNT, out: "/tmp/doxygen" });
    // Before each rebuild: Doxygen again only when a header changed since its last run.
    const dirs = cfg.docs.doxygen.map((p) => `${SRC_MOUNT}/${p}`).join(" ");
    files["doxygen.sh"] =
      `#!/bin/sh\nif [ ! -f /tmp/doxygen/xml/index.xml ] || [ -n "$(find ${dirs} -newer /tmp/doxygen/xml/index.xml -print -quit)" ]; then\n` +
      `  doxygen /pipeline-docs/Doxyfile\nfi\n`;
  }
  if (cfg.docs.generate) for (const [name, text] of Object.entries(generatedPages(cfg))) files[`generated/${name}`] = text;
  return files;
}

const SRC_MOUNT = "/src";

/**
 * `docs --serve`: the command run in the dev image, the source tree at /src and serveFiles at /pipeline-docs.
 * The docs folder (with the notebooks beside it) is linked into /tmp/docs; sphinx-autobuild rebuilds on every
 * save there or in the header folders (re-running Doxygen first) and reloads the browser page.
 */
export function serveCommand(cfg: Config, port: number): string[] {
  const docs = cfg.docs.generate ? "/pipeline-docs/generated" : `${SRC_MOUNT}/${cfg.docs.sphinx}`;
  const watch = [
    ...(cfg.docs.generate ? [] : [docs]),
    ...(cfg.docs.notebooks ? [`${SRC_MOUNT}/${cfg.docs.notebooks}`] : []),
    ...cfg.docs.doxygen.map((p) => `${SRC_MOUNT}/${p}`),
  ];
  const python = docsPython(cfg) ? `export PYTHONPATH=${SRC_MOUNT}/build/${cfg.docs.pythonPath}; ` : "";
  const doxygen = cfg.docs.doxygen.length ? "sh /pipeline-docs/doxygen.sh" : "true";
  const script =
    `set -e; export PYTHONDONTWRITEBYTECODE=1; ${python}mkdir -p /tmp/docs /tmp/site /tmp/doxygen; ` +
    `for f in ${docs}/* ${docs}/.[!.]*; do [ -e "$f" ] && ln -s "$f" /tmp/docs/; done; ` +
    (cfg.docs.notebooks ? `[ -e /tmp/docs/notebooks ] || ln -s ${SRC_MOUNT}/${cfg.docs.notebooks} /tmp/docs/notebooks; ` : "") +
    `${doxygen}; ` +
    `exec sphinx-autobuild -c /pipeline-docs --pre-build '${doxygen}' ${watch.map((w) => `--watch ${w}`).join(" ")} ` +
    `-D version=${cfg.version} -D release=${cfg.version} --host 127.0.0.1 --port ${port} /tmp/docs /tmp/site`;
  return ["bash", "-c", script];
}
