// The house rules that keep the layers one-way (see ARCHITECTURE.md): pipeline/ -> src/ -> modules/ -> SDK,
// and no import cycles anywhere. `npm run lint` checks them (CI runs it before the tests).
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "Imports form no cycle (type-only imports are erased and do not count).",
      from: {},
      to: { circular: true },
    },
    {
      name: "modules-are-the-bottom",
      severity: "error",
      comment: "modules/ are the bottom layer: they import only each other and the SDK.",
      from: { path: "^modules/" },
      to: { path: "^(src|pipeline|test|bench)/" },
    },
    {
      name: "src-imports-modules-only",
      severity: "error",
      comment: "src/ (the Dagger module) imports only modules/ and the SDK.",
      from: { path: "^src/" },
      to: { path: "^(pipeline|test|bench)/" },
    },
    {
      name: "cli-imports-no-tests",
      severity: "error",
      comment: "The CLI does not import tests or benches.",
      from: { path: "^pipeline/" },
      to: { path: "^(test|bench)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|examples|sdk|out)/" },
    tsPreCompilationDeps: false,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
