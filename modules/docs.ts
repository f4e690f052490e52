/**
 * The docs stage: the Sphinx HTML site and a hyperlinked code browser (GNU Global's htags) in one tree,
 * with an index page linking both. Each half reads only its own inputs, so an edit to the docs re-runs the
 * Sphinx step alone, and an edit to the code re-runs the browser alone.
 */
import { type Container, dag, type Directory } from "@dagger.io/dagger";
import type { Config } from "./config.ts";

export function sphinxSite(cfg: Config, dev: Container, source: Directory): Directory {
  return dev
    .withDirectory("/docs", source.directory(cfg.docs.sphinx))
    .withExec(["sphinx-build", "-q", "-b", "html", "-D", `version=${cfg.version}`, "-D", `release=${cfg.version}`, "/docs", "/site"])
    .directory("/site");
}

export function codeBrowser(cfg: Config, dev: Container, source: Directory): Directory {
  let tree = dag.directory();
  for (const path of cfg.docs.browse) tree = tree.withDirectory(path, source.directory(path));
  return dev
    .withDirectory("/code", tree)
    .withWorkdir("/code")
    .withExec(["sh", "-c", `gtags && htags --suggest --title ${JSON.stringify(`${cfg.name} ${cfg.version} source`)} && rm -f GPATH GRTAGS GTAGS`])
    .directory("/code/HTML");
}

export function indexPage(cfg: Config): string {
  const title = `${cfg.name} ${cfg.version} documentation`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title></head>
<body>
<h1>${title}</h1>
<ul>
<li><a href="api/index.html">Documentation and API reference</a> (Sphinx)</li>
<li><a href="browse/index.html">Source code browser</a> (hyperlinked, GNU Global)</li>
</ul>
</body></html>
`;
}

export function docsSite(cfg: Config, dev: Container, source: Directory): Directory {
  return dag
    .directory()
    .withDirectory("api", sphinxSite(cfg, dev, source))
    .withDirectory("browse", codeBrowser(cfg, dev, source))
    .withNewFile("index.html", indexPage(cfg));
}
