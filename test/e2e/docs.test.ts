/**
 * The docs stage on the real engine, on a copy of the example framework: the site is opened in headless
 * Chromium (a screenshot, and the DOM: the C++ API from header comments, the Python API from docstrings, a
 * notebook's stored output, links into the code browser), it is the same bytes when built again, --strict
 * fails on a broken reference naming its file and line, and --serve previews the docs and follows an edit.
 * Needs chromium on the host (apt-get install -y chromium).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { appendFileSync, cpSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import {
  cli,
  dockerOnEngine,
  domText,
  dumpDom,
  explain,
  freePort,
  needTool,
  ROOT,
  scratch,
  start,
  summary,
  waitForHttp,
} from "./helpers.ts";

await needTool("chromium", "chromium");
const docker = await dockerOnEngine();
const EXAMPLE = join(ROOT, "examples", "minipaddle");
const OUT = process.env.PIPELINE_DOCS_SHOTS ?? scratch("pipeline-docs-shots-");

/** A private copy of the example's source, to edit. */
function exampleCopy(): string {
  const dir = join(scratch("pipeline-src-"), "minipaddle");
  cpSync(EXAMPLE, dir, { recursive: true, filter: (p) => !/\/build[^/]*$/.test(p) });
  return dir;
}

function hashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      if (name === ".pipeline-output") continue; // the CLI's note of which command wrote the folder, and when
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

const src = exampleCopy();
const site = join(scratch(), "site");

test("the site opens in Chromium: API from header comments, Python docstrings, a notebook's stored output, links into the code browser", async () => {
  const t0 = Date.now();
  const r = await cli(["docs", "--source", src, "--out", site]);
  assert.is(r.code, 0, explain(r));
  process.stderr.write(`docs: site built in ${((Date.now() - t0) / 1000).toFixed(0)} s\n`);

  // The landing page is a Sphinx page in the site's theme, with the version, linking the code browser.
  const shot = join(OUT, "landing.png");
  const s = spawnSync(
    "chromium",
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--hide-scrollbars",
      `--screenshot=${shot}`,
      "--window-size=1200,900",
      `file://${site}/index.html`,
    ],
    { encoding: "utf8", timeout: 60_000 },
  );
  assert.is(s.status, 0, s.stderr);
  assert.ok(statSync(shot).size > 20_000, "the screenshot shows a rendered page");
  spawnSync(
    "chromium",
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--hide-scrollbars",
      `--screenshot=${join(OUT, "api.png")}`,
      "--window-size=1200,900",
      `file://${site}/api.html`,
    ],
    { timeout: 60_000 },
  );
  const landing = dumpDom(`file://${site}/index.html`);
  assert.match(landing, /furo/, "the furo theme");
  assert.match(domText(landing), "minipaddle 0.1.0");
  assert.match(landing, 'href="browse/index.html"');
  assert.ok(existsSync(join(site, "browse", "index.html")), "the code browser is in the site");

  // A function documented only by a /// comment in include/minipaddle/tensor.h.
  const only = "Inner product of two tensors with the same number of elements.";
  assert.not.match(readFileSync(join(src, "docs", "api.rst"), "utf8"), only);
  const api = dumpDom(`file://${site}/api.html`);
  assert.match(domText(api), only);

  // A link from the API page reaches the code browser, at a page that is there.
  const links = [...api.matchAll(/href="(browse\/[^"#]+)(#L\d+)?"/g)].map((m) => m[1]!);
  assert.ok(links.length > 0, "the API page links the code browser");
  for (const link of new Set(links)) assert.ok(existsSync(join(site, link)), `${link} exists`);
  assert.ok(api.includes("#L"), "an API entry links its declaration's line");

  // The Python page: docstrings of the built module (pure Python and the pybind11 binding's).
  const py = domText(dumpDom(`file://${site}/python.html`));
  assert.match(py, "Dictionary describing how this minipaddle was built.");
  assert.match(py, "Dense float tensor with row-major storage.");

  // A notebook page with the output it was saved with; the book's notebooks are pages too.
  const nb = domText(dumpDom(`file://${site}/tour.html`));
  assert.match(nb, "(2, 3) [[14.0, 32.0], [32.0, 77.0]]");
  assert.ok(existsSync(join(site, "notebooks", "train_linear_regression.html")), "the book's notebook is a page");
  // A Markdown page.
  assert.match(domText(dumpDom(`file://${site}/writing_docs.html`)), "This page is Markdown");
});

test("the same source gives the same site: built again (Sphinx re-run on a new build tree), every file hashes the same", async () => {
  // An edit the site does not show (a comment in tools/, outside the browsed and Doxygen folders) makes the
  // build, and so Sphinx, run again.
  const again = dirname(src) + "-again";
  cpSync(src, again, { recursive: true });
  appendFileSync(join(again, "tools", "minipaddle_main.cc"), `\n// rebuilt ${randomBytes(4).toString("hex")}\n`);
  const site2 = join(scratch(), "site");
  const r = await cli(["docs", "--source", again, "--out", site2]);
  assert.is(r.code, 0, explain(r));
  assert.match(r.stderr, /sphinx-build/, "Sphinx ran again");
  assert.ok(summary(r.stderr).run > 0);
  const a = hashes(site);
  const b = hashes(site2);
  assert.equal([...b.keys()], [...a.keys()]);
  const differ = [...a].filter(([k, v]) => b.get(k) !== v).map(([k]) => k);
  assert.equal(differ, [], `files that differ: ${differ.join(", ")}`);
  assert.not.match(readFileSync(join(site, "index.html"), "utf8"), /Last updated/);
});

test("--strict fails on a broken reference, naming the file and line", async () => {
  const broken = exampleCopy();
  const lines = readFileSync(join(broken, "docs", "getting_started.rst"), "utf8").split("\n").length;
  appendFileSync(join(broken, "docs", "getting_started.rst"), "\nSee :doc:`no_such_page_anywhere`.\n");
  const r = await cli(["docs", "--strict", "--source", broken, "--out", join(scratch(), "site")]);
  assert.is(r.code, 1, explain(r));
  assert.match(
    r.stderr,
    new RegExp(`docs/getting_started\\.rst:${lines + 1}: WARNING: unknown document: '?no_such_page_anywhere`),
  );
  // Without --strict the same source builds.
  const lax = await cli(["docs", "--source", broken, "--out", join(scratch(), "site")]);
  assert.is(lax.code, 0, explain(lax));
});

test("docs --serve answers HTTP 200, shows a .rst edit within seconds, and Ctrl-C removes its container", async () => {
  const tree = exampleCopy();
  const port = await freePort();
  const { child, done } = start(["docs", "--serve", "--port", String(port), "--source", tree]);
  try {
    const first = await waitForHttp(`http://127.0.0.1:${port}/index.html`, 300_000);
    assert.ok(first, "the preview answers");
    assert.is(first!.status, 200);
    const word = `Edited${randomBytes(4).toString("hex")}`;
    const t0 = Date.now();
    appendFileSync(join(tree, "docs", "index.rst"), `\n${word}.\n`);
    let seen = false;
    while (!seen && Date.now() - t0 < 20_000) {
      await new Promise((r) => setTimeout(r, 500));
      const page = await fetch(`http://127.0.0.1:${port}/index.html`)
        .then((x) => x.text())
        .catch(() => "");
      seen = page.includes(word);
    }
    assert.ok(seen, "the served page shows the edit");
    process.stderr.write(`docs --serve: edit shown after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  } finally {
    child.kill("SIGINT");
  }
  const r = await done;
  assert.is(r.code, 130, explain(r));
  const left = docker(["ps", "-a", "--filter", "name=pipeline-docs-serve-", "--format", "{{.Names}}"]);
  assert.is(left.stdout.trim(), "", "no preview container is left");
});

test.after(() => {
  process.stderr.write(`docs: screenshots in ${resolve(OUT)}\n`);
});

test.run();
