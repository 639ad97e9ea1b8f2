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
export { type EngineInfo, type EngineLog, engineInfo, type LogLevel } from "../native/llama.js";

import type { GpuChoice } from "../native/library.js";
import { type EngineInfo, type EngineLog, type NativeEngine, openEngine } from "../native/llama.js";
import { Model, type ModelOptions } from "./model.js";
import { readModelFile } from "./model-file.js";

/** Which llama.cpp build the engine loads, and where its log goes. */
export interface EngineOptions {
  /** The backend (default: the engine already loaded, else the CPU; "auto": the first GPU build installed). */
  gpu?: GpuChoice;
  /** A folder holding a self-built llama.cpp to load instead of the npm package (default: SAFESTEER_LLAMA_LIB). */
  llamaLib?: string;
  /** llama.cpp's log: "errors" (default, to stderr), "verbose", "quiet", or a function of (level, text). */
  log?: EngineLog;
}

/**
 * llama.cpp, loaded and checked: models are loaded on it. There is one per process, because the ggml
 * libraries and llama.cpp's log are process-global: a second loadEngine returns the same one (and
 * an EngineError "backend_conflict" if it names another backend or folder).
 */
export class Engine {
  readonly #native: NativeEngine;

  /** @internal Made by loadEngine. */
  constructor(native: NativeEngine) {
    this.#native = native;
  }

  /** The backend loaded: cpu, cuda, vulkan, metal ("auto" only with a library folder). */
  get backend(): GpuChoice {
    return this.#native.library.backend;
  }

  /** The build (backend, folder, version, devices). */
  info(): EngineInfo {
    return this.#native.info();
  }

  /** Routes llama.cpp's log from now on (for the whole process). */
  setLog(log: EngineLog): void {
    this.#native.setLog(log);
  }

  /** Loads a GGUF model (layers on the GPU by default on a GPU backend). */
  async loadModel(path: string, opts: ModelOptions = {}): Promise<Model> {
    return Model.open(this.#native, path, readModelFile(path), opts);
  }
}

/** The process's engine: loads llama.cpp (the build `opts` names) and runs the start-up checks once. */
export async function loadEngine(opts: EngineOptions = {}): Promise<Engine> {
  return new Engine(openEngine({ gpu: opts.gpu, libDir: opts.llamaLib, log: opts.log }));
}
