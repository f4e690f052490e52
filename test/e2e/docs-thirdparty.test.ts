/**
 * The docs stage on a real third-party project: ncnn (pinned source tarball, examples/thirdparty/ncnn), which
 * has no Sphinx folder (docs.generate), documents its API with plain `//` comments (docs.plainComments) and is
 * given as single public headers (docs.doxygen file entries). The site is opened in headless Chromium: the C++
 * API page shows ncnn::Net and a method with the text of its header comment, the method's [source] link reaches
 * its line in the code browser, and the landing page links the browser's index.
 *
 * Skips itself when the tarball is not in ../shared/thirdparty. Cold, on 2 shared cores: well under a minute
 * once the development image is cached (the time is printed). Needs chromium (apt-get install -y chromium).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { cli, domText, dumpDom, explain, needTool, ROOT, scratch } from "./helpers.ts";

const TARBALL = join(ROOT, "..", "shared", "thirdparty", "ncnn-a4d2ea1.tar.gz");
const TOP = "ncnn-a4d2ea1";
const CONFIG = join(ROOT, "examples", "thirdparty", "ncnn", "pipeline.yaml");

if (!existsSync(TARBALL)) {
  test.skip(`ncnn docs (skipped: ${TARBALL} is missing)`, () => {});
} else {
  await needTool("chromium", "chromium");
  // The tarball unpacked into a scratch folder: the same bytes each run, so a warm run is cached.
  const into = scratch("pipeline-thirdparty-docs-");
  execFileSync("tar", ["xzf", TARBALL, "-C", into]);
  const src = join(into, TOP);
  const site = join(scratch(), "site");

  test("ncnn's docs: the C++ API from its header comments in Chromium, linked into the code browser", async () => {
    const t0 = Date.now();
    const r = await cli(["docs", "--config", CONFIG, "--source", src, "--out", site]);
    console.log(`  docs-thirdparty: ncnn docs: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    assert.is(r.code, 0, explain(r));
    assert.not.match(r.stderr, /WARNING: Error when parsing/, "Sphinx parses every declaration (docs.defines)");

    // The method's documentation is only a plain comment in ncnn's header, directly above it.
    const header = readFileSync(join(src, "src", "net.h"), "utf8").split("\n");
    const at = header.findIndex((l) => /^\s*void clear\(\);/.test(l));
    assert.ok(at > 0, "Net::clear is declared in src/net.h");
    assert.is(header[at - 1]!.trim(), "// unload network structure and weight data");
    const doc = "unload network structure and weight data";

    // The C++ API page (generated: ncnn has no Sphinx folder) lists ncnn::Net and Net::clear with that text.
    const api = dumpDom(`file://${site}/cpp.html`);
    assert.match(api, 'id="_CPPv4N4ncnn3NetE"', "ncnn::Net");
    const entry = /<dt[^>]*id="_CPPv4N4ncnn3Net5clearEv"[^>]*>([\s\S]*?)<\/dt>\s*<dd>([\s\S]*?)<\/dd>/.exec(api);
    assert.ok(entry, "ncnn::Net::clear is on the API page");
    assert.is(domText(entry![2]!).trim(), doc);
    assert.match(domText(api), "load network structure from plain param file", "an overload under NCNN_STDIO/NCNN_STRING");

    // Its [source] link reaches the declaration's line in the code browser, and that page loads.
    const link = /href="(browse\/[^"#]+)#L(\d+)"/.exec(entry![1]!);
    assert.ok(link, "Net::clear links the code browser");
    assert.is(Number(link![2]), at + 1, "at the declaration's line");
    const page = dumpDom(`file://${site}/${link![1]}`);
    const row = new RegExp(`id="L${at + 1}"[^\\n]*`).exec(page);
    assert.ok(row, `line ${at + 1} is on ${link![1]}`);
    assert.match(domText(row![0]), /void\s+clear\s*\(\)/);

    // The landing page (generated) links the code browser's index, which loads.
    const landing = dumpDom(`file://${site}/index.html`);
    assert.match(landing, /furo/);
    assert.match(domText(landing), "ncnn 20260722");
    assert.match(landing, 'href="browse/index.html"');
    const browse = dumpDom(`file://${site}/browse/index.html`);
    assert.match(domText(browse), "ncnn 20260722 source");
  });
}

test.run();
