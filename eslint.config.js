// The house rules that keep the layers one-way (see ARCHITECTURE.md): pipeline/ -> src/ -> modules/ -> SDK,
// and no import cycles anywhere. `npm run lint` runs them; CI runs `npm run lint` before the tests.
import tseslint from "typescript-eslint";
import importX from "eslint-plugin-import-x";

export default [
  { ignores: ["node_modules/**", "sdk/**", "out/**", "examples/**"] },
  {
    files: ["**/*.ts", "**/*.mjs", "**/*.js"],
    languageOptions: { parser: tseslint.parser, ecmaVersion: "latest", sourceType: "module" },
    plugins: { "import-x": importX },
    settings: { "import-x/extensions": [".ts", ".mjs", ".js"] },
    rules: {
      "import-x/no-cycle": ["error", { ignoreExternal: true }],
      "import-x/no-restricted-paths": [
        "error",
        {
          zones: [
            {
              target: "./modules",
              from: ["./src", "./pipeline", "./test", "./bench"],
              message: "modules/ are the bottom layer: they import only each other and the SDK",
            },
            {
              target: "./src",
              from: ["./pipeline", "./test", "./bench"],
              message: "src/ (the Dagger module) imports only modules/ and the SDK",
            },
            { target: "./pipeline", from: ["./test", "./bench"], message: "the CLI does not import tests or benches" },
          ],
        },
      ],
    },
  },
];
