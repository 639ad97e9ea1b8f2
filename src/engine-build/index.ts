// Building llama.cpp for this machine (`safesteer engine build`), for the CLI and the benches. The
// lookup of a finished build, which the loader needs, stays in native/build-lookup.ts.
export {
  BUILD_GPUS,
  type BuildGpu,
  type BuildRecord,
  buildKey,
  buildsRoot,
  findUserBuild,
  type SourceInfo,
  type UserBuild,
} from "../native/build-lookup.js";
export { LLAMA_CPP_TAG, NODE_LLAMA_CPP_PACKAGE, NODE_LLAMA_CPP_VERSION } from "../native/versions.js";
export { buildEngine, type EngineBuildOptions, type EngineBuildResult } from "./build.js";
export { cmakeArgs } from "./cmake.js";
export { EngineBuildError, type EngineBuildErrorCode } from "./errors.js";
export { type ListedBuild, listUserBuilds } from "./list.js";
export { discoverSource, readSourceVersion, type SourceOptions } from "./sources.js";
export { findExecutable } from "./toolchain.js";
export { findBuildTool, LLAMA_TOOLS, type LlamaTool, PEER_TOOLS } from "./tools.js";
