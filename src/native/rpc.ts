// llama.cpp's RPC backend (ggml-rpc, in builds made with GGML_RPC: `safesteer engine build --rpc`):
// each `rpc-server` (ggml-rpc-server) at host:port lends its devices to this process, which then
// offloads layers to them as to GPUs. Registration is process-global and happens before a model loads;
// llama.cpp puts RPC devices first and splits the layers across them by their free memory.
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { EngineError } from "../engine/errors.js";
import { type EngineChoice, koffi } from "./library.js";
import { openEngine } from "./llama.js";

let fns:
  | {
      register: (reg: unknown) => void;
      devCount: (reg: unknown) => number | bigint;
      devGet: (reg: unknown, i: number) => unknown;
      addServer: unknown;
      AddServer: ReturnType<typeof koffi.proto>;
    }
  | undefined;
/** Endpoints registered in this process, with their devices' names (a second registration would add them twice). */
const registered = new Map<string, string[]>();

/** The RPC backend's functions in the build the engine loads (loading it), or a clear error when it has none. */
export function requireRpcBackend(choice: EngineChoice = {}) {
  if (fns) return fns;
  const engine = openEngine(choice);
  const n = engine.native;
  const { dir } = engine.library;
  const reg = n.ggml_backend_reg_by_name("RPC");
  const addServer = reg ? n.ggml_backend_reg_get_proc_address(reg, "ggml_backend_rpc_add_server") : null;
  if (!addServer) {
    throw new EngineError(
      "backend_missing",
      `the llama.cpp build in ${dir} has no RPC backend: build one with \`safesteer engine build --rpc\` (or pass --llama-lib with a llama.cpp built with -DGGML_RPC=ON).`,
    );
  }
  // libggml holds the backend registry (ggml_backend_register); libggml-base the registry entries' accessors
  const file = (stem: string) => {
    const f = readdirSync(dir).find((x) => new RegExp(`^(lib)?${stem}(\\.[a-z]+)?(\\.v[\\d.]+)?\\.(so|dylib|dll)$`).test(x));
    if (!f) throw new EngineError("backend_missing", `lib${stem} not found in ${dir}.`);
    return join(dir, f);
  };
  const ggml = koffi.load(file("ggml"));
  const base = koffi.load(file("ggml-base"));
  fns = {
    register: ggml.func("void ggml_backend_register(void *reg)"),
    devCount: base.func("size_t ggml_backend_reg_dev_count(void *reg)"),
    devGet: base.func("void *ggml_backend_reg_dev_get(void *reg, size_t i)"),
    addServer,
    AddServer: koffi.proto("void *ggml_backend_rpc_add_server_fn(const char *endpoint)"),
  };
  return fns;
}

/**
 * Registers the devices of the rpc-server at `endpoint` ("host:port") with llama.cpp; returns their
 * names. The caller checks first that a server answers there: llama.cpp aborts the process when it
 * cannot connect.
 */
export function addRpcServer(endpoint: string, choice: EngineChoice = {}): string[] {
  const known = registered.get(endpoint);
  if (known) return known;
  const f = requireRpcBackend(choice);
  const reg = koffi.call(f.addServer, f.AddServer, endpoint);
  if (!reg) throw new EngineError("backend_load_failed", `the rpc-server at ${endpoint} offers no devices.`);
  f.register(reg);
  const n = openEngine().native;
  const names = Array.from({ length: Number(f.devCount(reg)) }, (_, i) => n.ggml_backend_dev_name(f.devGet(reg, i)));
  registered.set(endpoint, names);
  return names;
}
