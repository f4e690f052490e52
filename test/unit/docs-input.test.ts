/**
 * The docs stage's inputs for a third-party layout (examples/thirdparty/ncnn): single headers as Doxygen and
 * code-browser entries, plain `//` comments as documentation (docs.plainComments), and macros Doxygen's
 * preprocessor defines (docs.defines).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dag } from "@dagger.io/dagger";
import { ConfigError, parseConfig } from "../../modules/config.ts";
import { codeBrowser, doxyfile, doxygenXml, isFileEntry, PLAIN_COMMENTS_FILTER } from "../../modules/docs.ts";
import { readGraph } from "../../pipeline/sdk-adapter.ts";
import { planGraph } from "../../pipeline/plan.ts";
import { renderDockerfile } from "../../pipeline/dockerfile.ts";

const ncnnYaml = readFileSync(new URL("../../examples/thirdparty/ncnn/pipeline.yaml", import.meta.url), "utf8");
const ncnn = () => parseConfig(ncnnYaml, "examples/thirdparty/ncnn/pipeline.yaml");
const minimal = () => parseConfig("name: minipaddle\nversion: 0.1.0\nsource: examples/minipaddle\n", "pipeline.yaml");
const line = (text: string, key: string) => text.split("\n").find((l) => l.startsWith(`${key} =`));

test("an entry ending in a C/C++/CUDA suffix is a file, any other a folder", () => {
  for (const p of ["src/net.h", "include/a/b.hpp", "src/net.cpp", "k.cu", "x.cuh", "a.c", "b.cc"]) assert.ok(isFileEntry(p), p);
  for (const p of ["include", "src", "src/layer", "lib.v2", "net.h/more"]) assert.not.ok(isFileEntry(p), p);
});

test("the ncnn config names single headers: Doxygen's INPUT lists the files, includes are relative to their folder", () => {
  const cfg = ncnn();
  assert.ok(cfg.docs.generate);
  assert.ok(cfg.docs.doxygen.includes("src/net.h"));
  assert.ok(cfg.docs.doxygen.every(isFileEntry));
  const text = doxyfile(cfg);
  assert.is(line(text, "INPUT"), `INPUT = ${cfg.docs.doxygen.map((p) => `/code/${p}`).join(" ")}`);
  assert.is(line(text, "STRIP_FROM_INC_PATH"), "STRIP_FROM_INC_PATH = /code/src");
  assert.is(line(text, "INPUT_FILTER"), `INPUT_FILTER = ${JSON.stringify(PLAIN_COMMENTS_FILTER)}`);
  assert.is(line(text, "MACRO_EXPANSION"), "MACRO_EXPANSION = YES");
  assert.is(line(text, "EXPAND_ONLY_PREDEF"), "EXPAND_ONLY_PREDEF = YES");
  assert.match(line(text, "PREDEFINED")!, '"NCNN_EXPORT=" "NCNN_FORCEINLINE=inline"');
  // A file at the project's root strips the root; folders and files mixed keep one entry per folder.
  const mixed = parseConfig("name: x\nversion: 1.0.0\ndocs:\n  doxygen: [api.h, include, include/extra.h]\n", "pipeline.yaml");
  assert.is(line(doxyfile(mixed), "STRIP_FROM_INC_PATH"), "STRIP_FROM_INC_PATH = /code /code/include");
});

test("by default the Doxyfile has no input filter and no predefined macros (the example's `///` comments)", () => {
  const cfg = minimal();
  assert.is(cfg.docs.plainComments, false);
  assert.equal(cfg.docs.defines, []);
  const text = doxyfile(cfg);
  assert.is(line(text, "INPUT"), "INPUT = /code/include");
  assert.is(line(text, "STRIP_FROM_INC_PATH"), "STRIP_FROM_INC_PATH = /code/include");
  for (const key of ["INPUT_FILTER", "PREDEFINED", "MACRO_EXPANSION"]) assert.is(line(text, key), undefined, key);
});

test("docs.defines must be macro definitions", () => {
  assert.throws(
    () => parseConfig("name: x\ndocs:\n  defines: ['not a macro']\n", "pipeline.yaml"),
    (e: unknown) => e instanceof ConfigError && /docs\.defines/.test(e.message),
  );
  const cfg = parseConfig("name: x\ndocs:\n  defines: ['A=', 'B(x)=x', C]\n", "pipeline.yaml");
  assert.equal(cfg.docs.defines, ["A=", "B(x)=x", "C"]);
});

test("the plain-comments filter documents a // block above a declaration, and leaves the license, ///, //! and trailing comments", () => {
  const dir = mkdtempSync(join(tmpdir(), "docs-filter-"));
  try {
    const header = join(dir, "net.h");
    writeFileSync(
      header,
      [
        "// Copyright 2017 Tencent",
        "// SPDX-License-Identifier: BSD-3-Clause",
        "",
        "#ifndef NET_H",
        "class Net",
        "{",
        "public:",
        "    // unload network structure and weight data",
        "    void clear();",
        "    /// already documented",
        "    //! Qt style",
        "    int x; // trailing",
        "};",
        "#endif // NET_H",
        "",
      ].join("\n"),
    );
    // Doxygen runs INPUT_FILTER through the shell with the file's path appended.
    const r = spawnSync("sh", ["-c", `${PLAIN_COMMENTS_FILTER} "$1"`, "sh", header], { encoding: "utf8" });
    assert.is(r.status, 0, r.stderr);
    const out = r.stdout.split("\n");
    assert.is(out[0], "// Copyright 2017 Tencent");
    assert.is(out[1], "// SPDX-License-Identifier: BSD-3-Clause");
    assert.is(out[7], "    /// unload network structure and weight data");
    assert.is(out[9], "    /// already documented");
    assert.is(out[10], "    //! Qt style");
    assert.is(out[11], "    int x; // trailing");
    assert.is(out[13], "#endif // NET_H");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("file entries translate to single-file copies: Doxygen and the code browser read only the named files", () => {
  const cfg = ncnn();
  const dev = dag.container().from("debian:bookworm");
  const source = dag.host().directory("/tmp/ncnn", { exclude: ["build"] });
  const doxygen = renderDockerfile(planGraph(readGraph(doxygenXml(cfg, dev, source))));
  for (const p of cfg.docs.doxygen) assert.match(doxygen, `/${p}`, p);
  assert.not.match(doxygen, "src/net.cpp");
  const browse = renderDockerfile(planGraph(readGraph(codeBrowser(cfg, dev, source))));
  for (const p of cfg.docs.browse) assert.match(browse, `/${p}`, p);
});

test.run();
