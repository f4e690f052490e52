/** Variants as data: resolution from the config (values, shorthand, floors), names and suffixes, and config errors. */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ConfigError, parseConfig } from "../../modules/config.ts";
import { ArgumentError } from "../../modules/errors.ts";
import { allVariants, imageRef, packageName, selectVariant, variantByName, variantFromSwitches } from "../../modules/variants.ts";
import { buildScript, cacheVolumes, commandsFor } from "../../modules/compile.ts";
import { guardHint } from "../../modules/checks.ts";

const cfg = (extra = "") => parseConfig(`name: lib\nversion: 1.0.0\n${extra}`, "pipeline.yaml");

const NCNN_LIKE = `
variants:
  accel:
    cpu: { cmake: [-DLIB_VULKAN=OFF] }
    gpu: false
  isa:
    avx:
      cmake: [-DLIB_AVX=ON, -DLIB_AVX2=ON, -DLIB_FMA=ON, -DLIB_AVX512=OFF]
      env: { LIB_LEVEL: avx2 }
    noavx:
      cmake: [-DLIB_AVX=OFF, -DLIB_AVX2=OFF, -DLIB_FMA=OFF]
    v4:
      cmake: [-DLIB_AVX512=ON]
      floor: x86-64-v4
image:
  variants: [cpu, cpu-noavx]
`;

test("with no variants section, the shorthand options give the four standard variants and their floors", () => {
  const vs = allVariants(cfg());
  assert.equal(
    vs.map((v) => v.name),
    ["cpu", "cpu-noavx", "gpu", "gpu-noavx"],
  );
  assert.equal(
    vs.map((v) => v.suffix),
    ["", "-noavx", "-gpu", "-gpu-noavx"],
  );
  assert.equal(
    vs.map((v) => v.floor),
    ["x86-64-v3", "x86-64-v2", "x86-64-v3", "x86-64-v2"],
  );
  assert.equal(variantByName(cfg(), "gpu-noavx").cmake, ["-DWITH_GPU=ON", "-DWITH_AVX=OFF"]);
  assert.ok(variantByName(cfg(), "gpu").cuda && !variantByName(cfg(), "cpu").cuda);
});

test("each value carries any number of CMake arguments and its environment; false removes a value", () => {
  const c = cfg(NCNN_LIKE);
  assert.equal(
    allVariants(c).map((v) => v.name),
    ["cpu", "cpu-noavx", "cpu-v4"],
  );
  const avx = variantFromSwitches(c, { gpu: false, avx: true });
  assert.equal(avx.cmake, ["-DLIB_VULKAN=OFF", "-DLIB_AVX=ON", "-DLIB_AVX2=ON", "-DLIB_FMA=ON", "-DLIB_AVX512=OFF"]);
  assert.equal(avx.env, { LIB_LEVEL: "avx2" });
  assert.is(variantByName(c, "cpu-v4").floor, "x86-64-v4");
  assert.is(variantByName(c, "cpu-v4").suffix, "-v4");
  assert.throws(
    () => variantFromSwitches(c, { gpu: true, avx: true }),
    (e: Error) => e instanceof ArgumentError && /no accel value 'gpu'/.test(e.message),
  );
});

test("a variant named on the command line wins over the switches", () => {
  const c = cfg(NCNN_LIKE);
  assert.is(selectVariant(c, { gpu: false, avx: true, variant: "cpu-v4" }).name, "cpu-v4");
  assert.is(selectVariant(c, { gpu: false, avx: false, variant: "" }).name, "cpu-noavx");
});

test("names, tags and package names follow the values: defaults cpu and avx leave no suffix", () => {
  const c = cfg(NCNN_LIKE);
  assert.equal(
    allVariants(c).map((v) => imageRef(c, v)),
    ["lib:1.0.0", "lib:1.0.0-noavx", "lib:1.0.0-v4"],
  );
  assert.equal(
    allVariants(c).map((v) => packageName(c, v)),
    ["lib", "lib-noavx", "lib-v4"],
  );
});

test("an unknown variant is an argument error (exit 2) listing the config's variants", () => {
  try {
    variantByName(cfg(NCNN_LIKE), "gpu");
    assert.unreachable("accepted");
  } catch (err) {
    assert.instance(err, ArgumentError);
    assert.is((err as ArgumentError).exitCode, 2);
    assert.match((err as Error).message, "--variant must be one of cpu, cpu-noavx, cpu-v4, got 'gpu'");
  }
});

test("the build script selects each variant's arguments and environment by VARIANT, or by GPU/AVX", () => {
  const c = cfg(NCNN_LIKE);
  const script = buildScript(c);
  assert.match(
    script,
    "  cpu) export LIB_LEVEL=avx2; set -- -DLIB_VULKAN=OFF -DLIB_AVX=ON -DLIB_AVX2=ON -DLIB_FMA=ON -DLIB_AVX512=OFF ;;",
  );
  assert.match(script, "  cpu-v4) set -- -DLIB_VULKAN=OFF -DLIB_AVX512=ON ;;");
  assert.match(script, '[ "$AVX" = ON ] || VARIANT="$VARIANT-noavx"');
  const [configure] = commandsFor(c, variantByName(c, "cpu-noavx"), false);
  assert.equal(configure!.slice(-3), ["-DLIB_AVX=OFF", "-DLIB_AVX2=OFF", "-DLIB_FMA=OFF"]);
});

test("the guard's hint names the variant with the same accelerator and the lowest floor", () => {
  const c = cfg();
  assert.match(
    guardHint(c, variantByName(c, "cpu")),
    "use the image lib:1.0.0-noavx or the package lib-noavx (variant cpu-noavx, floor x86-64-v2)",
  );
  assert.match(guardHint(c, variantByName(c, "gpu")), "lib:1.0.0-gpu-noavx");
  assert.match(guardHint(c, variantByName(c, "cpu-noavx")), "no variant of lib supports an older CPU");
});

test("a build tree is kept per configure command: a variant that drops an option never builds with its old CMake cache", () => {
  const full = cfg(NCNN_LIKE);
  const fewer = cfg(NCNN_LIKE.replace("-DLIB_AVX=OFF, ", ""));
  const [a, b] = [full, fewer].map((c) => cacheVolumes(c, variantByName(c, "cpu-noavx"), false));
  assert.is.not(a!.buildTree, b!.buildTree);
  assert.is(a!.ccache, b!.ccache, "ccache is keyed by content and stays shared");
  assert.match(a!.buildTree, /^build-tree-lib-cpu-noavx-[0-9a-f]{12}$/);
  assert.is(cacheVolumes(full, variantByName(full, "cpu-noavx"), false).buildTree, a!.buildTree, "stable");
});

const errors: Array<[string, string, RegExp]> = [
  [
    "a bad floor names the key",
    "variants:\n  isa:\n    noavx: { floor: x86-64-v9 }\n",
    /^p\.yaml: at 'variants\.isa\.noavx\.floor': /,
  ],
  [
    "a new isa value without a floor",
    "variants:\n  isa:\n    v4: { cmake: [-DX=ON] }\n",
    /^p\.yaml: at 'variants\.isa\.v4\.floor': a new isa value needs its floor/,
  ],
  [
    "the default values cannot be removed",
    "variants:\n  accel:\n    cpu: false\n",
    /^p\.yaml: at 'variants\.accel\.cpu': the accel value cpu cannot be removed/,
  ],
  [
    "a value name with a dash",
    "variants:\n  isa:\n    no-avx: { floor: x86-64 }\n",
    /^p\.yaml: at 'variants\.isa\.no-avx': a value name of lowercase letters and digits/,
  ],
  ["an unknown key in a value", "variants:\n  isa:\n    avx: { cmak: [] }\n", /^p\.yaml: at 'variants\.isa\.avx': /],
  [
    "image.variants naming a removed variant",
    "variants:\n  accel:\n    gpu: false\n",
    /^p\.yaml: at 'image\.variants\.2': 'gpu' is not a variant of this config \(its variants: cpu, cpu-noavx\)$/,
  ],
];
for (const [what, text, expected] of errors) {
  test(`variant config errors: ${what}`, () => {
    try {
      parseConfig(`name: x\n${text}`, "p.yaml");
      assert.unreachable("accepted");
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.is((err as ConfigError).exitCode, 2);
      assert.match((err as Error).message, expected);
    }
  });
}

test.run();
