/**
 * The operations on the root client, `dag`: where every graph starts. Containers and directories start empty;
 * `host()` leads to host.ts; a cache volume and a secret are values that other operations take as arguments.
 */
import { sanitizeId, str } from "./args.ts";
import type { CacheVolumeValue, ObjectOperations, QueryValue, SecretValue } from "./state.ts";

export const QUERY: ObjectOperations<QueryValue> = {
  object: "Query",
  operations: {
    container: { options: {}, apply: (b) => ({ kind: "container", state: b.newContainer("scratch", "scratch") }) },
    directory: { options: {}, apply: () => ({ kind: "directory", ref: { kind: "empty" } }) },
    host: { options: {}, apply: () => ({ kind: "host" }) },
    cacheVolume: {
      options: { key: true, namespace: null },
      apply: (_, __, call) => ({ kind: "cacheVolume", id: sanitizeId(str(call, "key")) }),
    },
    setSecret: {
      options: { name: true, plaintext: true },
      apply: (b, _, call) => {
        const name = str(call, "name");
        const id = sanitizeId(name);
        b.addSecret(id, str(call, "plaintext"), name);
        return { kind: "secret", id };
      },
    },
  },
};

/** A cache volume (`dag.cacheVolume(key)`): no operations of its own; `withMountedCache` takes it. */
export const CACHE_VOLUME: ObjectOperations<CacheVolumeValue> = { object: "CacheVolume", operations: {} };

/** A secret (`dag.setSecret(name, plaintext)`): no operations of its own; `withMountedSecret` and `withSecretVariable` take it. */
export const SECRET: ObjectOperations<SecretValue> = { object: "Secret", operations: {} };
