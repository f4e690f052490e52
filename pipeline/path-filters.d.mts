/** One include/exclude pair of a host directory (plan/state.ts PathFilter). */
export interface PathFilter {
  include: string[];
  exclude: string[];
}
export type Keep = (rel: string) => "keep" | "drop" | "look-inside";
export function compileFilters(filters: PathFilter[]): Keep;
