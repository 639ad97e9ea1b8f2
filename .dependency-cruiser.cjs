// Layering rules for src/ (checked by `npm run deps`, in CI): no import cycles, type-only imports
// included; the general evaluation knows nothing of the toy world; only src/native touches FFI.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    { name: "no-cycles", severity: "error", from: {}, to: { circular: true } },
    { name: "eval-not-organism", severity: "error", from: { path: "^src/eval" }, to: { path: "^src/organism" } },
    { name: "ffi-only-in-native", severity: "error", from: { pathNot: "^src/native" }, to: { path: "koffi" } },
    {
      name: "native-only-through-engine",
      comment: "everything above the engine sees its typed model/context API, never the FFI layer",
      severity: "error",
      from: { path: "^src/(cli|steer|eval|data|convert|util|web|organism|server)" },
      to: { path: "^src/native" },
    },
    {
      name: "native-not-engine-build",
      comment: "the FFI layer only looks a finished build up (native/build-lookup.ts); making one is engine-build's",
      severity: "error",
      from: { path: "^src/native" },
      to: { path: "^src/engine-build" },
    },
    {
      name: "engine-build-not-ffi",
      comment:
        "engine-build runs cmake and reads files: of src/native it sees only the build lookup, the pinned versions and the eval filter's compile step (no FFI)",
      severity: "error",
      from: { path: "^src/engine-build" },
      to: { path: "^src/native/", pathNot: "^src/native/(build-lookup|versions|eval-filter-build)\\.ts$" },
    },
    {
      name: "library-not-cli",
      comment: "the library layers never import the command line, the server or the web pages",
      severity: "error",
      from: { path: "^src/(native|engine|engine-build|steer|eval|data|convert|util)" },
      to: { path: "^src/(cli|organism|web|server)" },
    },
    {
      name: "server-steer-entry",
      comment:
        "the server decides and applies steering as every caller does: through src/steer/index.ts (planSteering, steerSequence), never the policy arithmetic or the engine's internal steering",
      severity: "error",
      from: { path: "^src/server/" },
      to: { path: "^src/steer/", pathNot: "^src/steer/index\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
