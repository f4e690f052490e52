/**
 * The operations on `dag.host()`: its directories and files. A host directory is not staged into the build
 * context here but where it is used, so that filters and sub-directories can still be folded in.
 */
import { str, strList } from "./args.ts";
import { type HostValue, isEmptyFilter, type ObjectOperations } from "./state.ts";

export const HOST: ObjectOperations<HostValue> = {
  object: "Host",
  operations: {
    directory: {
      options: { path: true, include: true, exclude: true, noCache: true, gitignore: false },
      apply: (_, __, call) => {
        const path = str(call, "path");
        const filter = { include: strList(call, "include"), exclude: strList(call, "exclude") };
        return { kind: "directory", ref: { kind: "host", path, filters: isEmptyFilter(filter) ? [] : [filter] } };
      },
    },
    file: {
      options: { path: true, noCache: true },
      apply: (b, _, call) => ({ kind: "file", ref: b.hostFile(str(call, "path")) }),
    },
  },
};
