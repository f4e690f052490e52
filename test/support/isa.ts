/**
 * Finds VEX-encoded (AVX) instructions in a binary by disassembling it with objdump: in AT&T syntax every
 * VEX-encoded instruction's mnemonic starts with "v" (vmovaps, vaddps, vzeroupper, ...); the only legacy
 * ones that do, verr and verw, are not counted.
 */
import { execFileSync } from "node:child_process";

export function vexInstructions(file: string): string[] {
  const text = execFileSync("objdump", ["-d", "--no-show-raw-insn", file], { maxBuffer: 1 << 28 }).toString();
  const found: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*[0-9a-f]+:\s+(v[a-z0-9]+)\b/.exec(line);
    if (m && m[1] !== "verr" && m[1] !== "verw") found.push(line.trim());
  }
  return found;
}
