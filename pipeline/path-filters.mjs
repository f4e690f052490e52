// Dagger's include/exclude semantics for host directories, shared by the build context (context.ts, which
// stages what a build reads) and the up-to-date check (uptodate.mjs, which looks at the same files). Plain
// JavaScript, so that bin.mjs can load it before the CLI's bundle.
import picomatch from "picomatch";

/**
 * Patterns are relative to the directory's root; a pattern that matches a directory covers everything below
 * it; a path is kept when every filter keeps it. Returns, for a relative path, "keep", "drop" or
 * "look-inside" (a directory that some include pattern may match below).
 */
export function compileFilters(filters) {
  const compiled = filters.map((f) => ({
    include: f.include.length ? picomatch(f.include.map(trimPattern), { dot: true }) : undefined,
    exclude: f.exclude.length ? picomatch(f.exclude.map(trimPattern), { dot: true }) : undefined,
  }));
  return (rel) => {
    const prefixes = ancestors(rel);
    let result = "keep";
    for (const f of compiled) {
      if (f.exclude && prefixes.some((p) => f.exclude(p))) return "drop";
      if (f.include && !prefixes.some((p) => f.include(p))) result = "look-inside";
    }
    return result;
  };
}

function trimPattern(p) {
  return p.replace(/^\.\//, "").replace(/\/+$/, "");
}

/** "a/b/c" -> ["a", "a/b", "a/b/c"] */
function ancestors(rel) {
  const parts = rel.split("/");
  return parts.map((_, i) => parts.slice(0, i + 1).join("/"));
}
