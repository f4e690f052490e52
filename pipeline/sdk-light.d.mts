// The light SDK offers the same names as the full one (checked by test/unit/sdk-adapter.test.ts).
export * from "@dagger.io/dagger";
