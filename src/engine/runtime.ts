// Which llama.cpp build this process runs (backend, library folder, devices), for `info` and users.
// Making and listing the user's own builds is src/engine-build/.
export { type EngineInfo, engineInfo } from "../native/llama.js";
