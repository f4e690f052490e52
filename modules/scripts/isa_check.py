#!/usr/bin/env python3
"""
The ISA floor check that runs inside a build container: disassembles every x86-64 ELF file a variant ships
(executables, shared objects, static archives) with binutils' objdump and reports each instruction that needs
more than the variant's x86-64 level (x86-64, x86-64-v2, x86-64-v3, x86-64-v4). Python 3.11, standard library
only; objdump's output is streamed, never held whole.

    python3 isa_check.py --floor x86-64-v2 [--exclude GLOB]... [--max-show N] [--label TEXT] [--json FILE] PATH...
    objdump -d --no-show-raw-insn -w FILE | python3 isa_check.py --classify

Exit status: 0 nothing above the floor, 1 something above it, 2 usage error, objdump missing or objdump failed.
"""
from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import mmap
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

LEVELS = ["x86-64", "x86-64-v2", "x86-64-v3", "x86-64-v4"]
BEYOND = 5
# Level numbers: 1..4 are the psABI levels, 5 is "needs a feature that no level guarantees".
LEVEL_NAMES = {1: "x86-64", 2: "x86-64-v2", 3: "x86-64-v3", 4: "x86-64-v4", BEYOND: "beyond-v4"}
BASE = "base"

HINT = ("hint: the usual culprits are -march=native, an ISA option of the project left ON for this variant "
        "(for example an AVX2/FMA/F16C/AVX512 switch), or runtime-dispatched code that the config should exempt "
        "with isa.exempt")

# ---------------------------------------------------------------------------------------------------------------
# The classification of one mnemonic. Results are cached per mnemonic; operands are only looked at for the few
# kinds that need them (EVEX operands on VEX mnemonics, ymm integer ops, VEX vs EVEX spellings).

# Operand-check kinds.
K_NONE, K_EVEX, K_VP, K_VEXNAME, K_WIDE, K_BCAST = 0, 1, 2, 3, 4, 5


def _suffixed(names: str, suffixes: str = "wlq") -> list[str]:
    """The names plus their AT&T size-suffixed spellings (objdump writes `popcntq (%rax),%rdx` for memory forms)."""
    out = []
    for n in names.split():
        out.append(n)
        out.extend(n + s for s in suffixes)
    return out


_TABLE: dict[str, tuple[int, str]] = {}


def _add(level: int, feature: str, names) -> None:
    for n in (names.split() if isinstance(names, str) else names):
        _TABLE[n] = (level, feature)


# x86-64-v2
_add(2, "SSE3", "addsubps addsubpd haddps haddpd hsubps hsubpd lddqu movddup movshdup movsldup "
                "fisttp fisttps fisttpl fisttpll fisttpq monitor mwait")
_add(2, "SSSE3", "pabsb pabsw pabsd palignr phaddw phaddd phaddsw phsubw phsubd phsubsw pmaddubsw pmulhrsw "
                 "pshufb psignb psignw psignd")
_add(2, "SSE4.1", "blendps blendpd blendvps blendvpd dpps dppd extractps insertps movntdqa mpsadbw packusdw "
                  "pblendvb pblendw pcmpeqq pextrb pextrd pextrq pextrw phminposuw pinsrb pinsrd pinsrq "
                  "pmaxsb pmaxsd pmaxud pmaxuw pminsb pminsd pminud pminuw "
                  "pmovsxbw pmovsxbd pmovsxbq pmovsxwd pmovsxwq pmovsxdq "
                  "pmovzxbw pmovzxbd pmovzxbq pmovzxwd pmovzxwq pmovzxdq "
                  "pmuldq pmulld ptest roundps roundpd roundss roundsd")
# pextrw exists in SSE2 (register destination) too; only the SSE4.1 memory-destination form is v2. Keep it base.
_TABLE.pop("pextrw")
_add(2, "SSE4.2", _suffixed("crc32", "bwlq") + "pcmpestri pcmpestrm pcmpistri pcmpistrm pcmpgtq".split())
_add(2, "POPCNT", _suffixed("popcnt"))
_add(2, "CX16", "cmpxchg16b")
_add(2, "LAHF-SAHF", "lahf sahf")
# x86-64-v3, non-VEX spellings
_add(3, "BMI1", _suffixed("andn bextr blsi blsmsk blsr", "lq"))
_add(3, "BMI2", _suffixed("bzhi mulx pdep pext rorx sarx shlx shrx", "lq"))
_add(3, "LZCNT", _suffixed("lzcnt"))
_add(3, "MOVBE", _suffixed("movbe"))
# tzcnt is what `rep bsf` decodes to: gcc emits it for generic targets because older CPUs run it as bsf.
_add(1, BASE, _suffixed("tzcnt"))
# xgetbv/xsave*: only ever reached after a CPUID check (runtime dispatch, the dynamic loader).
_add(1, BASE, "xgetbv xsave xsave64 xrstor xrstor64 xsaveopt xsaveopt64 xsavec xsavec64 xsaves xrstors")
# Beyond every level: extensions that no x86-64 level guarantees.
_add(BEYOND, "AES", "aesenc aesenclast aesdec aesdeclast aesimc aeskeygenassist")
_add(BEYOND, "SHA", "sha1rnds4 sha1nexte sha1msg1 sha1msg2 sha256rnds2 sha256msg1 sha256msg2")
_add(BEYOND, "RDRAND", _suffixed("rdrand"))
_add(BEYOND, "RDSEED", _suffixed("rdseed"))
_add(BEYOND, "ADX", _suffixed("adcx adox", "lq"))
_add(BEYOND, "GFNI", "gf2p8affineqb gf2p8affineinvqb gf2p8mulb")
_add(BEYOND, "RTM", "xbegin xend xabort xtest")
_add(BEYOND, "SSE4A", "extrq insertq movntss movntsd")
_add(BEYOND, "TBM", _suffixed("blcfill blci blcic blcmsk blcs blsfill blsic t1mskc tzmsk", "lq"))
_add(BEYOND, "3DNOW", "femms pavgusb pi2fd pi2fw pf2id pf2iw pmulhrw pswapd")

# VEX/EVEX mnemonics with a fixed classification.
_VTABLE: dict[str, tuple[int, str]] = {}


def _vadd(level: int, feature: str, names: str) -> None:
    for n in names.split():
        _VTABLE[n] = (level, feature)


_vadd(1, BASE, "verr verw vmcall vmlaunch vmresume vmxoff vmxon vmread vmwrite vmptrld vmptrst vmclear vmfunc "
               "vmrun vmload vmsave vmmcall vmgexit")
_vadd(3, "AVX2", "vpbroadcastb vpbroadcastw vpbroadcastd vpbroadcastq vbroadcasti128 vperm2i128 vinserti128 "
                 "vextracti128 vpermd vpermq vpermps vpermpd vpmaskmovd vpmaskmovq vpsllvd vpsllvq vpsrlvd "
                 "vpsrlvq vpsravd vpblendd vgatherdps vgatherdpd vgatherqps vgatherqpd vpgatherdd vpgatherdq "
                 "vpgatherqd vpgatherqq")
_vadd(3, "F16C", "vcvtph2ps vcvtps2ph")
# EVEX-only mnemonics of AVX512F/CD/BW/DQ/VL, the x86-64-v4 set.
_vadd(4, "AVX-512",
      "vpternlogd vpternlogq vpermt2b vpermt2w vpermt2d vpermt2q vpermt2ps vpermt2pd vpermi2w vpermi2d vpermi2q "
      "vpermi2ps vpermi2pd vpcompressd vpcompressq vpexpandd vpexpandq vcompressps vcompresspd vexpandps "
      "vexpandpd vrcp14ps vrcp14pd vrcp14ss vrcp14sd vrsqrt14ps vrsqrt14pd vrsqrt14ss vrsqrt14sd vfixupimmps "
      "vfixupimmpd vfixupimmss vfixupimmsd vgetexpps vgetexppd vgetexpss vgetexpsd vgetmantps vgetmantpd "
      "vgetmantss vgetmantsd vrndscaleps vrndscalepd vrndscaless vrndscalesd vscalefps vscalefpd vscalefss "
      "vscalefsd vreduceps vreducepd vreducess vreducesd vrangeps vrangepd vrangess vrangesd vfpclassps "
      "vfpclasspd vfpclassss vfpclasssd valignd valignq vpconflictd vpconflictq vplzcntd vplzcntq vdbpsadbw "
      "vpmovm2b vpmovm2w vpmovm2d vpmovm2q vpmovb2m vpmovw2m vpmovd2m vpmovq2m vpbroadcastmb2q vpbroadcastmw2d "
      "vpmovqb vpmovqw vpmovqd vpmovdb vpmovdw vpmovwb vpmovsqb vpmovsqw vpmovsqd vpmovsdb vpmovsdw vpmovswb "
      "vpmovusqb vpmovusqw vpmovusqd vpmovusdb vpmovusdw vpmovuswb "
      "vmovdqa32 vmovdqa64 vmovdqu8 vmovdqu16 vmovdqu32 vmovdqu64 vpandd vpandq vpandnd vpandnq vpord vporq "
      "vpxord vpxorq vpabsq vpmaxsq vpmaxuq vpminsq vpminuq vpmullq vpsraq vpsravq vpsravw vpsllvw vpsrlvw "
      "vpermw vprold vprolq vprord vprorq vprolvd vprolvq vprorvd vprorvq vpblendmb vpblendmw vpblendmd "
      "vpblendmq vblendmps vblendmpd vptestmb vptestmw vptestmd vptestmq vptestnmb vptestnmw vptestnmd "
      "vptestnmq vextractf32x4 vextractf32x8 vextractf64x2 vextractf64x4 vextracti32x4 vextracti32x8 "
      "vextracti64x2 vextracti64x4 vinsertf32x4 vinsertf32x8 vinsertf64x2 vinsertf64x4 vinserti32x4 "
      "vinserti32x8 vinserti64x2 vinserti64x4 vbroadcastf32x2 vbroadcastf32x4 vbroadcastf32x8 vbroadcastf64x2 "
      "vbroadcastf64x4 vbroadcasti32x2 vbroadcasti32x4 vbroadcasti32x8 vbroadcasti64x2 vbroadcasti64x4 "
      "vshuff32x4 vshuff64x2 vshufi32x4 vshufi64x2 vscatterdps vscatterdpd vscatterqps vscatterqpd "
      "vpscatterdd vpscatterdq vpscatterqd vpscatterqq vpcmpb vpcmpub vpcmpw vpcmpuw vpcmpd vpcmpud vpcmpq "
      "vpcmpuq")
# Beyond x86-64-v4: AVX-512 extensions outside the v4 set, and VEX extensions newer than AVX2.
_vadd(BEYOND, "AVX512-VBMI", "vpermb vpermi2b vpmultishiftqb")
_vadd(BEYOND, "AVX512-VBMI2", "vpcompressb vpcompressw vpexpandb vpexpandw vpshldw vpshldd vpshldq vpshldvw "
                              "vpshldvd vpshldvq vpshrdw vpshrdd vpshrdq vpshrdvw vpshrdvd vpshrdvq")
_vadd(BEYOND, "AVX512-BITALG", "vpopcntb vpopcntw vpshufbitqmb")
_vadd(BEYOND, "AVX512-VPOPCNTDQ", "vpopcntd vpopcntq")
_vadd(BEYOND, "AVX512-VP2INTERSECT", "vp2intersectd vp2intersectq")
_vadd(BEYOND, "AVX512-ER", "vexp2ps vexp2pd vrcp28ps vrcp28pd vrcp28ss vrcp28sd vrsqrt28ps vrsqrt28pd "
                           "vrsqrt28ss vrsqrt28sd")
_vadd(BEYOND, "AVX512-PF", "vgatherpf0dps vgatherpf0dpd vgatherpf0qps vgatherpf0qpd vgatherpf1dps vgatherpf1dpd "
                           "vgatherpf1qps vgatherpf1qpd vscatterpf0dps vscatterpf0dpd vscatterpf0qps "
                           "vscatterpf0qpd vscatterpf1dps vscatterpf1dpd vscatterpf1qps vscatterpf1qpd")
_vadd(BEYOND, "AVX512-BF16", "vcvtne2ps2bf16 vdpbf16ps")
_vadd(BEYOND, "AVX-NE-CONVERT", "vbcstnebf162ps vbcstnesh2ps vcvtneebf162ps vcvtneeph2ps vcvtneobf162ps "
                                "vcvtneoph2ps")
_vadd(BEYOND, "AVX-VNNI-INT8", "vpdpbssd vpdpbssds vpdpbsud vpdpbsuds vpdpbuud vpdpbuuds")
_vadd(BEYOND, "AVX-VNNI-INT16", "vpdpwsud vpdpwsuds vpdpwusd vpdpwusds vpdpwuud vpdpwuuds")
_vadd(BEYOND, "GFNI", "vgf2p8affineqb vgf2p8affineinvqb vgf2p8mulb")
_vadd(BEYOND, "SHA512", "vsha512rnds2 vsha512msg1 vsha512msg2")
_vadd(BEYOND, "SM3", "vsm3rnds2 vsm3msg1 vsm3msg2")
_vadd(BEYOND, "SM4", "vsm4key4 vsm4rnds4")
_vadd(BEYOND, "XOP", "vpcmov vpperm vprotb vprotw vprotd vprotq vpshab vpshaw vpshad vpshaq vpshlb vpshlw "
                     "vpshld vpshlq vphaddbw vphaddbd vphaddbq vphaddwd vphaddwq vphadddq vphaddubw vphaddubd "
                     "vphaddubq vphadduwd vphadduwq vphaddudq vphsubbw vphsubwd vphsubdq vfrczps vfrczpd vfrczss "
                     "vfrczsd vpermil2ps vpermil2pd")
# Named by their encoding: the VEX spelling (objdump prints `{vex}`) is the AVX-* feature, else the AVX512-* one.
_VEXNAME = {
    **{n: ("AVX-VNNI", "AVX512-VNNI") for n in "vpdpbusd vpdpbusds vpdpwssd vpdpwssds".split()},
    **{n: ("AVX-IFMA", "AVX512-IFMA") for n in "vpmadd52luq vpmadd52huq".split()},
    "vcvtneps2bf16": ("AVX-NE-CONVERT", "AVX512-BF16"),
}
# Not AVX2 although they are vp* and take ymm operands.
_AVX1_VP = {"vpermilps", "vpermilpd", "vperm2f128", "vptest"}

_FMA3 = re.compile(r"^vf(?:n?madd|n?msub|maddsub|msubadd)(?:132|213|231)")
_FMA4 = re.compile(r"^vf(?:n?madd|n?msub|maddsub|msubadd)(?:ps|pd|ss|sd)$")
_XOP_COM = re.compile(r"^vpcom(?:lt|le|gt|ge|eq|neq|false|true)?u?[bwdq]$")
_XOP_MACS = re.compile(r"^vpmadcs|^vpmacs")
_HIREG = re.compile(r"%[xy]mm(?:1[6-9]|2\d|3[01])\b")

PREFIXES = {
    "rep", "repz", "repe", "repnz", "repne", "lock", "data16", "data32", "addr32", "addr16", "cs", "ds", "es",
    "fs", "gs", "ss", "notrack", "bnd", "xacquire", "xrelease", "{vex}", "{vex3}", "{evex}", "{disp8}",
    "{disp32}", "{load}", "{store}", "{nooptimize}", "{rex}", "{rex2}",
}


def classify_mnemonic(mn: str) -> tuple[int, str, int]:
    """(level, feature, operand-check kind) of a mnemonic, prefixes already removed."""
    if mn.startswith("rex"):  # a lone REX prefix objdump could not attach
        return (1, BASE, K_NONE)
    hit = _TABLE.get(mn)
    if hit is not None:
        return (hit[0], hit[1], K_NONE)
    c = mn[:1]
    if c == "v":
        return _classify_v(mn)
    if c == "k":  # no base instruction starts with k: these are the AVX-512 mask-register ops
        return (4, "AVX-512", K_NONE)
    if mn.startswith("pclmul"):  # pclmulqdq and objdump's pclmullqlqdq-style aliases
        return (BEYOND, "PCLMUL", K_NONE)
    if mn.startswith(("tile", "tdp", "tcmm", "ldtilecfg", "sttilecfg", "tcvtrow", "tmmul")):
        return (BEYOND, "AMX", K_NONE)
    if mn.startswith("pf") and mn not in ("pfalse",):  # 3DNow! float ops (pfadd, pfmul, ...)
        return (BEYOND, "3DNOW", K_NONE)
    return (1, BASE, K_NONE)


def _classify_v(mn: str) -> tuple[int, str, int]:
    hit = _VTABLE.get(mn)
    if hit is not None:
        level, feature = hit
        if level == 1:
            return (1, BASE, K_NONE)
        return (level, feature, K_EVEX if level < 4 else K_NONE)
    if mn in _VEXNAME:
        return (BEYOND, _VEXNAME[mn][0], K_VEXNAME)
    if mn.startswith("vaes"):
        return (BEYOND, "AES", K_WIDE)
    if mn.startswith("vpclmul"):
        return (BEYOND, "PCLMUL", K_WIDE)
    if _FMA4.match(mn):
        return (BEYOND, "FMA4", K_NONE)
    if _XOP_COM.match(mn) or _XOP_MACS.match(mn):
        return (BEYOND, "XOP", K_NONE)
    if _FMA3.match(mn):
        if mn.endswith(("ph", "sh")):
            return (BEYOND, "AVX512-FP16", K_NONE)
        return (3, "FMA", K_EVEX)
    if not mn.startswith("vp") and (mn.endswith(("ph", "sh", "phx")) or "ph2" in mn or "2ph" in mn
                                    or mn in ("vmovw", "vfmaddcph", "vfcmaddcph")):
        return (BEYOND, "AVX512-FP16", K_NONE)
    if mn.startswith("vcvt") and ("qq" in mn or "udq" in mn or "usi" in mn or "2u" in mn):
        return (4, "AVX-512", K_NONE)
    if mn.startswith("vpcmp") and mn not in _SSE_VPCMP:  # vpcmpltud-style predicate aliases of vpcmp[u][bwdq]
        return (4, "AVX-512", K_NONE)
    if mn in ("vbroadcastss", "vbroadcastsd"):
        return (3, "AVX", K_BCAST)
    if mn.startswith("vp") and mn not in _AVX1_VP:
        return (3, "AVX", K_VP)
    return (3, "AVX", K_EVEX)


_SSE_VPCMP = {"vpcmpeqb", "vpcmpeqw", "vpcmpeqd", "vpcmpeqq", "vpcmpgtb", "vpcmpgtw", "vpcmpgtd", "vpcmpgtq",
              "vpcmpestri", "vpcmpestrm", "vpcmpistri", "vpcmpistrm"}


def _evex(ops: str) -> bool:
    return "{" in ops or "zmm" in ops or "%k" in ops or ("mm1" in ops or "mm2" in ops or "mm3" in ops) \
        and _HIREG.search(ops) is not None


def refine(level: int, feature: str, kind: int, ops: str, vex: bool, evex: bool) -> tuple[int, str]:
    """The classification after looking at the operands (and at objdump's {vex}/{evex} markers)."""
    if kind == K_VEXNAME:
        pair = _VEXNAME_BY_FEATURE[feature]
        return (level, pair[0] if vex else pair[1])
    if kind == K_WIDE:
        if "ymm" in ops or "zmm" in ops:
            return (level, "VAES" if feature == "AES" else "VPCLMULQDQ")
        return (level, feature)
    if evex or _evex(ops):
        return (4, "AVX-512")
    if kind == K_VP and "%ymm" in ops:
        return (3, "AVX2")
    if kind == K_BCAST and ops.startswith("%"):  # register source: the AVX2 form
        return (3, "AVX2")
    return (level, feature)


_VEXNAME_BY_FEATURE = {v[0]: v for v in _VEXNAME.values()}

_CACHE: dict[str, tuple[int, str, int]] = {}


def classify_text(text: str) -> tuple[int, str, str]:
    """(level, feature, mnemonic) of the text of one instruction as objdump prints it (prefixes allowed)."""
    vex = evex = False
    parts = text.split(None, 1)
    while parts:
        mn = parts[0]
        if mn not in PREFIXES:
            break
        if mn == "{vex}" or mn == "{vex3}":
            vex = True
        elif mn == "{evex}":
            evex = True
        parts = parts[1].split(None, 1) if len(parts) > 1 else []
    if not parts:
        return (1, BASE, text.strip())
    mn = parts[0]
    ent = _CACHE.get(mn)
    if ent is None:
        ent = _CACHE[mn] = classify_mnemonic(mn)
    level, feature, kind = ent
    if kind:
        ops = parts[1] if len(parts) > 1 else ""
        h = ops.find(" #")
        if h >= 0:
            ops = ops[:h]
        level, feature = refine(level, feature, kind, ops, vex, evex)
    elif evex and level < 4:
        level, feature = 4, "AVX-512"
    return (level, feature, mn)


# ---------------------------------------------------------------------------------------------------------------
# Scanning one file's disassembly.

def scan_sections(lines, floor: int, max_show: int) -> list[tuple[str, dict]]:
    """Classifies every instruction line of objdump's output (an iterable of str lines), per section: the
    text before the first `NAME:     file format ...` line is section "", each such line starts section NAME
    (an archive member, or one of several files given to objdump). Returns [(section, result)] in order."""
    sections: list[tuple[str, dict]] = []
    n = 0
    max_level = 1
    above: dict[str, int] = {}
    first: list[dict] = []
    func, func_addr, member = "", 0, ""
    cache = _CACHE
    for line in lines:
        c0 = line[:1]
        if c0 == " ":
            p = line.find(":\t")
            if p < 0:
                continue
            text = line[p + 2:]
            parts = text.split(None, 1)
            if not parts:
                continue
            # The fast path: a known mnemonic whose operands do not matter. Prefix words never enter the cache.
            ent = cache.get(parts[0])
            if ent is not None and ent[2] == 0:
                level = ent[0]
                feature = ent[1]
            else:
                level, feature, _ = classify_text(text)
            n += 1
            if level > max_level:
                max_level = level
            if level > floor:
                above[feature] = above.get(feature, 0) + 1
                if len(first) < max_show:
                    addr = line[:p].strip()
                    first.append({
                        "member": member, "function": func, "offset": int(addr, 16) - func_addr,
                        "address": addr, "instruction": _tidy(text), "feature": feature,
                        "level": LEVEL_NAMES[level],
                    })
        elif c0 in _HEX and line.endswith(">:\n"):
            lt = line.find(" <")
            if lt > 0:
                func = line[lt + 2:-3]
                try:
                    func_addr = int(line[:lt], 16)
                except ValueError:
                    func_addr = 0
        elif "file format" in line:
            # `member.o:     file format elf64-x86-64` (per archive member, and once for a plain file)
            if n or member:
                sections.append((member, {"instructions": n, "max_level": max_level, "above": above, "first": first}))
            member = line.split(":", 1)[0].strip()
            n, max_level, above, first, func, func_addr = 0, 1, {}, [], "", 0
    if n or member or not sections:
        sections.append((member, {"instructions": n, "max_level": max_level, "above": above, "first": first}))
    return sections


def merge(results: list[dict], max_show: int) -> dict:
    """One result for several (the members of an archive, in order)."""
    n, max_level, above, first = 0, 1, {}, []
    for r in results:
        n += r["instructions"]
        max_level = max(max_level, r["max_level"])
        for k, v in r["above"].items():
            above[k] = above.get(k, 0) + v
        first.extend(r["first"][:max(0, max_show - len(first))])
    return {"instructions": n, "max_level": max_level, "above": above, "first": first}


def scan_stream(lines, floor: int, max_show: int) -> dict:
    """Classifies every instruction line of objdump's output (an iterable of str lines), all sections together."""
    return merge([r for _, r in scan_sections(lines, floor, max_show)], max_show)


_HEX = set("0123456789abcdef")


def _tidy(text: str) -> str:
    text = text.rstrip("\n")
    h = text.find("        #")
    if h >= 0:
        text = text[:h]
    return " ".join(text.split())


def objdump_unit(job: tuple[list[str], int, int, str]) -> tuple[list[tuple[str, dict]], str | None]:
    """Runs objdump on some files (one file, an archive, or a batch of extracted archive members) and scans its
    output per section (the unit of work of the pool). Returns the sections and objdump's error, if any."""
    paths, floor, max_show, objdump = job
    # stderr goes to a file: a pipe read only at the end could fill up (warnings per archive member) and stall.
    with tempfile.TemporaryFile() as errf:
        proc = subprocess.Popen([objdump, "-d", "--no-show-raw-insn", "-w", *paths], stdout=subprocess.PIPE,
                                stderr=errf, text=True, errors="replace", bufsize=1 << 20)
        assert proc.stdout is not None
        sections = scan_sections(proc.stdout, floor, max_show)
        rc = proc.wait()
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
    return sections, (f"objdump exited with {rc}: {err.strip()[:500]}" if rc != 0 else None)


def archive_members(path: str) -> list[tuple[str, int, int]] | None:
    """The regular members of a GNU/System V static archive as (name, offset, size), in order; None for a form
    this does not read (BSD long names, a malformed header), which is then disassembled whole."""
    try:
        with open(path, "rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    with data:
        if data[:8] != b"!<arch>\n":
            return None
        members: list[tuple[str, int, int]] = []
        names = b""
        pos = 8
        while pos + 60 <= len(data):
            hdr = data[pos:pos + 60]
            if hdr[58:60] != b"`\n":
                return None
            raw = hdr[:16].rstrip(b" ")
            try:
                size = int(hdr[48:58].strip() or b"0")
            except ValueError:
                return None
            start = pos + 60
            if raw in (b"/", b"/SYM64/"):
                pass  # the symbol table
            elif raw == b"//":
                names = bytes(data[start:start + size])
            elif raw.startswith(b"#1/"):
                return None
            elif raw.startswith(b"/") and raw[1:].isdigit():
                at = int(raw[1:])
                end = names.find(b"/\n", at)
                members.append((names[at:end if end >= 0 else len(names)].decode("utf-8", "replace"), start, size))
            else:
                members.append((raw.rstrip(b"/").decode("utf-8", "replace"), start, size))
            pos = start + size + (size & 1)
        return members


# ---------------------------------------------------------------------------------------------------------------
# The verdict cache (--cache DIR, a cache volume the builds share): what a file's disassembly found, keyed by
# the SHA-256 of its content (and of this script, the floor and --max-show), for whole files and for each
# member of a static archive; so a build that changed one object of a 5,000-member library disassembles that
# object alone. With --cache-key (a variant's build tree), the size, mtime and digest of every file under the
# PATHs is kept too, and a file whose size and mtime are unchanged is not read again at all.

SCRIPT_ID = hashlib.sha256(open(__file__, "rb").read()).hexdigest()[:16]
RESULT_KEYS = ("instructions", "max_level", "above", "first")


class Verdicts:
    def __init__(self, root: str | None, floor: str, max_show: int, key: str | None, paths: list[str]):
        self.on = root is not None
        self.hits = self.misses = 0
        self.stats: dict[str, list] = {}
        self.seen: dict[str, list] = {}
        if root is None:
            return
        self.dir = os.path.join(root, SCRIPT_ID)
        os.makedirs(self.dir, exist_ok=True)
        for other in os.listdir(root):  # what an older version of this script found
            if other != SCRIPT_ID:
                shutil.rmtree(os.path.join(root, other), ignore_errors=True)
        self.suffix = f"{floor}-{max_show}"
        self.stat_file = None
        if key:
            name = hashlib.sha256(json.dumps([key, sorted(os.path.abspath(p) for p in paths)]).encode()).hexdigest()
            self.stat_file = os.path.join(self.dir, f"stat-{name[:32]}.json")
            try:
                with open(self.stat_file) as f:
                    self.stats = json.load(f)
            except (OSError, ValueError):
                self.stats = {}

    def known(self, path: str, st: os.stat_result) -> tuple[str | None, str | None] | None:
        """The kind and digest of a file whose size and mtime are what they were the last time; else None."""
        rec = self.stats.get(path)
        if rec and rec[0] == st.st_size and rec[1] == st.st_mtime_ns:
            self.seen[path] = rec
            return rec[2], rec[3]
        return None

    def saw(self, path: str, st: os.stat_result, kind: str | None, digest: str | None) -> None:
        self.seen[path] = [st.st_size, st.st_mtime_ns, kind, digest]

    def get(self, digest: str) -> dict | None:
        if not self.on:
            return None
        try:
            with open(os.path.join(self.dir, f"{digest}-{self.suffix}.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def put(self, digest: str, result: dict) -> None:
        if not self.on:
            return
        path = os.path.join(self.dir, f"{digest}-{self.suffix}.json")
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump({k: result[k] for k in RESULT_KEYS}, f)
        os.replace(tmp, path)

    def save(self) -> None:
        if self.on and self.stat_file:
            tmp = f"{self.stat_file}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump(self.seen, f)
            os.replace(tmp, self.stat_file)


def check_files(files: list[tuple[str, bool, str]], floor: int, max_show: int, objdump: str,
                verdicts: Verdicts) -> list[dict]:
    """The result of each (path, is_archive, digest), from the cache where it has one, else from objdump."""
    results: list[dict | None] = [None] * len(files)
    units: list[list[str]] = []
    # What each unit's sections are: (file index, member index or None for the file itself).
    owners: list[dict[str, tuple[int, int | None]]] = []
    pending: dict[int, list] = {}  # archive file index -> its members' results (None until known)
    members_of: dict[int, list[str]] = {}
    tmp = tempfile.mkdtemp(prefix="isa-check-") if verdicts.on else None
    try:
        for i, (path, is_archive, digest) in enumerate(files):
            cached = verdicts.get(digest)
            if cached is not None:
                verdicts.hits += 1
                results[i] = cached
                continue
            members = archive_members(path) if (is_archive and verdicts.on) else None
            if not members:
                units.append([path])
                owners.append({"*": (i, None)})
                continue
            # An archive the cache has not seen whole: its members are looked up one by one; the unseen ones
            # are extracted and disassembled in batches.
            got: list = [None] * len(members)
            digests: list[str | None] = [None] * len(members)
            with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
                view = memoryview(data)
                missing: list[int] = []
                for m, (_, off, size) in enumerate(members):
                    if _elf_kind(bytes(view[off:off + 20])) != "obj":
                        got[m] = {"instructions": 0, "max_level": 1, "above": {}, "first": []}
                        continue
                    d = hashlib.sha256(view[off:off + size]).hexdigest()
                    digests[m] = d
                    r = verdicts.get(d)
                    if r is not None:
                        verdicts.hits += 1
                        got[m] = r
                    else:
                        missing.append(m)
                batch: list[str] = []
                owner: dict[str, tuple[int, int | None]] = {}
                for m in missing:
                    name, off, size = members[m]
                    out = os.path.join(tmp, f"{i}-{m}.o")
                    with open(out, "wb") as o:
                        o.write(view[off:off + size])
                    batch.append(out)
                    owner[out] = (i, m)
                    if len(batch) == 64:
                        units.append(batch)
                        owners.append(owner)
                        batch, owner = [], {}
                if batch:
                    units.append(batch)
                    owners.append(owner)
                del view
            pending[i] = got
            members_of[i] = [name for name, _, _ in members]
            results[i] = {"digests": digests}
        verdicts.misses = sum(len(u) for u in units)
        jobs = [(u, floor, max_show, objdump) for u in units]
        if len(jobs) > 1:
            with ProcessPoolExecutor(max_workers=2) as pool:
                done = list(pool.map(objdump_unit, jobs))
        else:
            done = [objdump_unit(j) for j in jobs]
        for owner, (sections, error) in zip(owners, done):
            if "*" in owner:  # a file disassembled whole
                i = owner["*"][0]
                r = merge([s for _, s in sections], max_show)
                if error:
                    r["error"] = error
                else:
                    verdicts.put(files[i][2], r)
                results[i] = r
                continue
            for name, section in sections:
                where = owner.get(name)
                if where is None:
                    continue
                i, m = where
                if error:
                    results[i]["error"] = error
                else:
                    verdicts.put(results[i]["digests"][m], section)
                pending[i][m] = section
        for i, got in pending.items():
            names = members_of[i]
            parts = []
            for m, r in enumerate(got):
                if r is None:  # objdump said nothing of it
                    r = {"instructions": 0, "max_level": 1, "above": {}, "first": []}
                parts.append({**r, "first": [{**f, "member": names[m]} for f in r["first"]]})
            merged = merge(parts, max_show)
            if "error" in results[i]:
                merged["error"] = results[i]["error"]
            else:
                verdicts.put(files[i][2], merged)
            results[i] = merged
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    out = []
    for (path, is_archive, _), r in zip(files, results):
        r = dict(r)
        r["path"] = path
        r["archive"] = is_archive
        if not is_archive:
            r["first"] = [{**f, "member": ""} for f in r["first"]]
        out.append(r)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Choosing the files.

ET_EXEC, ET_DYN = 2, 3
EM_X86_64 = 62


def _elf_kind(head: bytes) -> str | None:
    """'elf' for an x86-64 executable or shared object, 'obj' for an x86-64 relocatable object, else None."""
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return None
    little = head[5] == 1
    e_type = int.from_bytes(head[16:18], "little" if little else "big")
    e_machine = int.from_bytes(head[18:20], "little" if little else "big")
    if e_machine != EM_X86_64:
        return None
    if e_type in (ET_EXEC, ET_DYN):
        return "elf"
    if e_type == 1:
        return "obj"
    return None


def _archive_has_x86_64(path: str) -> bool:
    """Whether a static archive holds an x86-64 ELF object (the first regular member decides)."""
    try:
        with open(path, "rb") as f:
            if f.read(8) != b"!<arch>\n":
                return False
            for _ in range(64):
                hdr = f.read(60)
                if len(hdr) < 60:
                    return False
                name = hdr[:16].rstrip()
                size = int(hdr[48:58].strip() or b"0")
                if name in (b"/", b"//", b"/SYM64/", b"__.SYMDEF", b"__.SYMDEF SORTED"):
                    f.seek(size + (size & 1), os.SEEK_CUR)
                    continue
                head = f.read(min(size, 20))
                return _elf_kind(head) == "obj"
    except (OSError, ValueError):
        return False
    return False


def classify_path(path: str) -> str | None:
    """'elf', 'archive' or None (not checked)."""
    try:
        with open(path, "rb") as f:
            head = f.read(20)
    except OSError:
        return None
    if head.startswith(b"!<arch>\n"):
        return "archive" if _archive_has_x86_64(path) else None
    kind = _elf_kind(head)
    return "elf" if kind == "elf" else None


def _excluded(rel: str, patterns: list[str]) -> bool:
    base = os.path.basename(rel)
    return any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(base, p) for p in patterns)


def collect(roots: list[str], excludes: list[str], verdicts: Verdicts | None = None
            ) -> tuple[list[tuple[str, bool, str]], list[str], list[tuple[str, str]]]:
    """The files to check as (path, is_archive, digest), the excluded paths, and the duplicates as (path, same_as).
    A file whose size and mtime the verdict cache has seen is not read again."""
    chosen: list[tuple[str, bool, str]] = []
    excluded: list[str] = []
    dups: list[tuple[str, str]] = []
    seen: dict[str, str] = {}

    def consider(path: str, rel: str) -> None:
        if "CMakeFiles" in rel.split("/")[:-1]:
            return
        st = os.stat(path)
        known = verdicts.known(path, st) if verdicts else None
        kind, digest = known if known else (classify_path(path), None)
        if kind is None:
            if verdicts and not known:
                verdicts.saw(path, st, None, None)
            return
        if _excluded(rel, excludes):
            excluded.append(path)
            return
        if digest is None:
            digest = _sha256(path)
            if verdicts:
                verdicts.saw(path, st, kind, digest)
        if digest in seen:
            dups.append((path, seen[digest]))
            return
        seen[digest] = path
        chosen.append((path, kind == "archive", digest))

    for root in roots:
        if os.path.isdir(root):
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                dirnames[:] = [d for d in dirnames if d != "CMakeFiles"]
                for name in sorted(filenames):
                    path = os.path.join(dirpath, name)
                    # The build tree's bookkeeping (never ELF), which its save writes while this check runs.
                    if name.startswith(".pipeline-") or os.path.islink(path) or not os.path.isfile(path):
                        continue  # a link's target is checked where it lies
                    consider(path, os.path.relpath(path, root).replace(os.sep, "/"))
        else:
            consider(root, os.path.basename(root))
    return chosen, excluded, dups


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------------------------
# The command line.

def _features(above: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(above.items(), key=lambda kv: (-kv[1], kv[0])))


def _needs(level_name: str) -> str:
    return "beyond x86-64-v4" if level_name == LEVEL_NAMES[BEYOND] else f"needs {level_name}"


def run_check(args) -> int:
    objdump = os.environ.get("OBJDUMP") or "objdump"
    objdump_path = shutil.which(objdump)
    if objdump_path is None:
        print(f"isa-check: {objdump} not found: install binutils (apt-get install -y binutils)", file=sys.stderr)
        return 2
    for p in args.paths:
        if not os.path.exists(p):
            print(f"isa-check: no such file or directory: {p}", file=sys.stderr)
            return 2
    floor = LEVELS.index(args.floor) + 1
    verdicts = Verdicts(args.cache, args.floor, args.max_show, args.cache_key, args.paths)
    files, excluded, dups = collect(args.paths, args.exclude, verdicts)
    for path in excluded:
        print(f"{path}: excluded")
    for path, same in dups:
        print(f"{path}: same content as {same}")
    results = check_files(files, floor, args.max_show, objdump_path, verdicts)
    verdicts.save()
    if verdicts.on:
        print(f"isa-check: verdict cache: {verdicts.hits} files or archive members found unchanged, "
              f"{verdicts.misses} disassembled")

    failed = [r for r in results if r["above"]]
    errors = [r for r in results if "error" in r]
    total = sum(r["instructions"] for r in results)
    for r in results:
        print(f"{r['path']}: {r['instructions']} instructions, max level {LEVEL_NAMES[r['max_level']]}")
        if "error" in r:
            print(f"  error: {r['error']}")
        if r["above"]:
            print(f"  above {args.floor}: {sum(r['above'].values())} ({_features(r['above'])})")
            for f in r["first"]:
                where = f"{f['member']}: " if f["member"] else ""
                print(f"  {where}<{f['function']}+{f['offset']:#x}> {f['address']}: {f['instruction']} "
                      f"({f['feature']}, {_needs(f['level'])})")

    if args.json:
        report = {
            "floor": args.floor, "label": args.label, "ok": not failed and not errors,
            "files": [{
                "path": r["path"], "instructions": r["instructions"], "max_level": LEVEL_NAMES[r["max_level"]],
                "above": r["above"], "first": r["first"], **({"error": r["error"]} if "error" in r else {}),
            } for r in results],
            "excluded": excluded, "duplicates": [{"path": p, "same_as": s} for p, s in dups],
        }
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")

    if not files:
        print(f"isa-check: warning: no x86-64 ELF file under {' '.join(args.paths)}", file=sys.stderr)
    if errors:
        print(f"isa-check: objdump failed on {len(errors)} file(s): " + ", ".join(r["path"] for r in errors),
              file=sys.stderr)
    if failed:
        label = f"the {args.label} floor" if args.label else "the floor"
        print(f"isa-check: {len(failed)} file(s) use instructions above {label} {args.floor}:")
        for r in failed:
            print(f"  {r['path']}: {sum(r['above'].values())} instructions ({_features(r['above'])})")
        print(HINT)
        return 1
    if errors:
        return 2
    print(f"isa-check: {len(results)} files, {total} instructions, nothing above {args.floor}")
    return 0


def run_classify() -> int:
    out = sys.stdout
    for line in sys.stdin:
        if line[:1] != " ":
            continue
        p = line.find(":\t")
        if p < 0 or not line[p + 2:].strip():
            continue
        level, feature, mn = classify_text(line[p + 2:])
        out.write(f"{LEVEL_NAMES[level]} {feature} {mn}\n")
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # usage errors exit 2, as argparse's do, with our prefix
        self.print_usage(sys.stderr)
        print(f"isa-check: {message}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    ap = _Parser(prog="isa_check.py", description="Check that x86-64 ELF files need no more than an ISA level.")
    ap.add_argument("--floor", choices=LEVELS, help="the highest x86-64 level the files may need")
    ap.add_argument("--exclude", action="append", default=[], metavar="GLOB",
                    help="skip files whose path relative to its PATH root (or whose name) matches; repeatable")
    ap.add_argument("--max-show", type=int, default=5, metavar="N", help="offending instructions shown per file")
    ap.add_argument("--label", default="", help="the variant's name, for the messages")
    ap.add_argument("--json", metavar="FILE", help="also write a machine-readable report")
    ap.add_argument("--cache", metavar="DIR",
                    help="keep what each file and archive member's disassembly found here, by content, and reuse it")
    ap.add_argument("--cache-key", metavar="KEY",
                    help="with --cache: also keep each file's size and mtime under KEY, and skip reading unchanged files")
    ap.add_argument("--classify", action="store_true",
                    help="read objdump -d --no-show-raw-insn -w text on stdin; print LEVEL FEATURE MNEMONIC per line")
    ap.add_argument("paths", nargs="*", metavar="PATH")
    args = ap.parse_args(argv)
    if args.classify:
        return run_classify()
    if not args.floor:
        ap.error("--floor is required")
    if not args.paths:
        ap.error("no PATH given")
    if args.max_show < 0:
        ap.error("--max-show must be 0 or more")
    return run_check(args)


if __name__ == "__main__":
    sys.exit(main())
