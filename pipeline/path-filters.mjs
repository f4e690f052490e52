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
  // What the filters found for each folder seen so far: a walk asks for every entry of a folder in turn, and a
  // path's verdict is its folder's plus what the path itself matches (each pattern is matched once per path).
  const folders = new Map();
  const state = (rel) => {
    const slash = rel.lastIndexOf("/");
    let up;
    if (slash >= 0) {
      const parent = rel.slice(0, slash);
      up = folders.get(parent);
      if (!up) {
        up = state(parent);
        folders.set(parent, up);
      }
    }
    return {
      excluded: (up?.excluded ?? false) || compiled.some((f) => f.exclude?.(rel)),
      included: compiled.map((f, i) => (up?.included[i] ?? false) || (f.include ? f.include(rel) : true)),
    };
  };
  return (rel) => {
    const s = state(rel);
    if (s.excluded) return "drop";
    return s.included.every(Boolean) ? "keep" : "look-inside";
  };
}

function trimPattern(p) {
  return p.replace(/^\.\//, "").replace(/\/+$/, "");
}
