// Which llama.cpp build this process runs (backend, library folder, devices), for `info` and users;
// and the user's own builds of it (`safesteer engine build`).

export {
  BUILD_GPUS,
  type BuildGpu,
  type BuildRecord,
  buildEngine,
  buildKey,
  buildsRoot,
  discoverSource,
  EngineBuildError,
  type EngineBuildOptions,
  type EngineBuildResult,
  findUserBuild,
  LLAMA_CPP_TAG,
  listUserBuilds,
  NODE_LLAMA_CPP_PACKAGE,
  NODE_LLAMA_CPP_PACKAGE_VERSION,
  PEER_TOOLS,
  type UserBuild,
} from "../native/build.js";
export { type EngineInfo, engineInfo } from "../native/llama.js";
