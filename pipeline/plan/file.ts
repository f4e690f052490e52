/**
 * The operations on a File: none yet. A File is where it comes from (a path in the build context or in a
 * build stage); `withFile`, `withMountedFile` and a File result read it. An operation that edits a file (a
 * rename, a chmod) goes here, as a COPY into a scratch build stage the way directory.ts edits a Directory.
 */
import type { FileValue, ObjectOperations } from "./state.ts";

export const FILE: ObjectOperations<FileValue> = {
  object: "File",
  operations: {},
};
