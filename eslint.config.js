// Lint rules that hold the architecture in place (ARCHITECTURE.md, "Packages"):
// dependencies point one way, down the package table, and the raft core stays pure.
import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

/** Packages from the bottom of the stack up; a package may import only those before it. */
const layers = ["proto", "raft", "engine", "raftstore", "txn", "scheduler", "server", "client", "cli"];

/** `no-restricted-imports` for one package: everything above it in `layers` is off limits. */
function upwardImportsBanned(pkg) {
  const above = layers.slice(layers.indexOf(pkg) + 1);
  return {
    files: [`packages/${pkg}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            ...(above.length === 0
              ? []
              : [
                  {
                    group: above.map((p) => `@regionkv/${p}`).concat(above.map((p) => `@regionkv/${p}/*`)),
                    message: `packages/${pkg} may not import packages above it (${above.join(", ")}): dependencies point down the table in ARCHITECTURE.md.`,
                  },
                ]),
            {
              group: ["../../*/src/*", "../../../packages/*"],
              message: "Import other packages by their @regionkv/* name, not by a relative path.",
            },
          ],
        },
      ],
    },
  };
}

const raftCoreRestrictions = {
  files: ["packages/raft/src/**/*.ts"],
  rules: {
    "no-restricted-imports": [
      "error",
      {
        patterns: [
          { group: ["node:*"], message: "packages/raft is pure: no Node built-ins (no I/O)." },
          { group: ["@regionkv/*"], message: "packages/raft depends on nothing else in the repository." },
        ],
        paths: ["fs", "net", "os", "path", "crypto", "timers", "worker_threads", "child_process"].map((name) => ({
          name,
          message: "packages/raft is pure: no Node built-ins (no I/O).",
        })),
      },
    ],
    "no-restricted-globals": [
      "error",
      ...["setTimeout", "setInterval", "setImmediate", "clearTimeout", "clearInterval", "queueMicrotask", "process", "performance", "fetch", "console"].map(
        (name) => ({ name, message: "packages/raft is driven by its caller: no timers, clocks, console or I/O; time comes in through tick() and logs go to the injected RaftLogger." }),
      ),
    ],
    "no-restricted-properties": [
      "error",
      { object: "Math", property: "random", message: "Randomness is injected (RaftConfig.random) so a seeded run replays exactly." },
      { object: "Date", property: "now", message: "packages/raft has no clock: time comes in through tick()." },
    ],
    "no-restricted-syntax": [
      "error",
      { selector: "NewExpression[callee.name='Date']", message: "packages/raft has no clock: time comes in through tick()." },
      { selector: "NewExpression[callee.name='Promise']", message: "packages/raft is synchronous: no promises." },
      { selector: "FunctionDeclaration[async=true], ArrowFunctionExpression[async=true], FunctionExpression[async=true]", message: "packages/raft is synchronous." },
    ],
  },
};

export default tseslint.config(
  { ignores: ["**/node_modules/**", "**/dist/**", "packages/proto/src/gen/**", "data/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: "module" },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "no-constant-condition": ["error", { checkLoops: false }],
      eqeqeq: ["error", "always"],
    },
  },
  ...layers.filter((p) => p !== "raft").map(upwardImportsBanned),
  raftCoreRestrictions,
  {
    files: ["**/*.test.ts", "test/**/*.ts", "tools/**/*.ts"],
    rules: { "@typescript-eslint/no-non-null-assertion": "off" },
  },
);
