// Which llama.cpp build this process runs (backend, library folder, devices), for `info` and users.
export { type EngineInfo, engineInfo } from "../native/llama.js";
