// Options and helpers shared by the CLI commands.
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import { ADAPTERS } from "../data/adapters.js";
import type { Dataset } from "../data/example.js";
import { loadDataset } from "../data/load.js";
import type { GpuChoice } from "../engine/model.js";
import { Model } from "../engine/model.js";
import { connectRpcServers } from "../engine/rpc.js";
import { LLAMA_CPP_TAG } from "../engine-build/index.js";
import { SafeSteerError } from "../errors.js";
import { DEFAULT_MODEL } from "../models.js";
import { setVerbosity } from "../util/logger.js";
import { maybeEngineHint } from "./engine-hint.js";

export function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}".`);
    return n;
  };
}

/** A count that must be at least 1 (tokens, prompts, threads, batch size...): 0 or -1 would run and mean nothing. */
export function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a whole number of at least 1, got "${v}".`);
    return n;
  };
}

/** A count where 0 means "off" or "none" (--top-k, --gpu-layers), never negative. */
export function nonNegativeInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a whole number of at least 0, got "${v}".`);
    return n;
  };
}

export function num(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`${name} must be a number, got "${v}".`);
    return n;
  };
}

/** The nearest folder that exists at or above p (p itself when it exists). */
function nearestExisting(p: string): string {
  let d = p;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

function checkWritableFolder(dir: string, path: string, option: string): void {
  if (!statSync(dir).isDirectory())
    throw new SafeSteerError("usage", `cannot write ${path}: ${dir} is a file, not a folder; choose another ${option} path.`);
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch {
    throw new SafeSteerError("usage", `cannot write ${path}: the folder ${dir} is not writable; choose a writable place for ${option}.`);
  }
}

/**
 * Checks an output file before any work, so that a long build or evaluation does not end in a
 * failed write: its folder exists and is writable, and the path is not a folder.
 */
export function checkOutputPath(path: string, option = "-o"): void {
  const full = resolve(path);
  if (existsSync(full) && statSync(full).isDirectory())
    throw new SafeSteerError("usage", `${path} is a folder: give ${option} the path of a file (inside it, or elsewhere).`);
  const dir = dirname(full);
  if (!existsSync(dir)) {
    // a regular file on the way makes the folder impossible; else the folder is simply missing
    const near = nearestExisting(dir);
    if (!statSync(near).isDirectory())
      throw new SafeSteerError("usage", `cannot write ${path}: ${near} is a file, not a folder; choose another ${option} path.`);
    throw new SafeSteerError(
      "usage",
      `cannot write ${path}: the folder ${dirname(path)} does not exist; create it (mkdir -p ${dirname(path)}) or choose another ${option} path.`,
    );
  }
  checkWritableFolder(dir, path, option);
}

/** Checks an output folder (created when missing): the nearest existing folder must be writable. */
export function checkOutputDir(dir: string, option = "-o"): void {
  const full = resolve(dir);
  const near = nearestExisting(full);
  if (near === full && !statSync(full).isDirectory())
    throw new SafeSteerError("usage", `${dir} is a file, not a folder: give ${option} a folder path.`);
  checkWritableFolder(near, dir, option);
}

/** "all", "3", "0,2,4" or "1-3" -> layer indices (checked against the model later). */
export function parseLayers(spec: string, nLayer: number): number[] {
  if (spec === "all") return Array.from({ length: nLayer }, (_, i) => i);
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new SafeSteerError("usage", `cannot read layer list "${spec}": use all, 3, 0,2,4 or 1-3.`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    for (let l = a; l <= b; l++) out.push(l);
  }
  return out;
}

export interface ModelOpts {
  model?: string;
  threads?: number;
  ctx?: number;
  gpu?: GpuChoice;
  gpuLayers?: number;
  llamaLib?: string;
  verbose?: boolean;
  /** --chat-template: a file holding the template. */
  chatTemplate?: string;
}

/** The text of a --chat-template file (a clear error when it cannot be read or is empty). */
export function readChatTemplate(path: string | undefined): string | undefined {
  if (path === undefined) return undefined;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SafeSteerError(
      "usage",
      `cannot read --chat-template ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): give the path of a Jinja template file.`,
    );
  }
  if (!text.trim()) throw new SafeSteerError("usage", `--chat-template ${path} is empty: give a Jinja template file.`);
  return text;
}

/** How llama.cpp runs: threads, backend, a self-built library folder, its log. */
export function withEngineOptions(cmd: Command): Command {
  return cmd
    .option("--threads <n>", "CPU threads (default: 1 for models under 50M parameters, else all cores)", positiveInt("--threads"))
    .addOption(
      new Option("--gpu <backend>", "compute backend (a GPU build needs its npm package, or --llama-lib)")
        .choices(["cpu", "cuda", "vulkan", "metal", "auto"])
        .default("cpu"),
    )
    .option("--gpu-layers <n>", "layers to offload to the GPU (default: all with a GPU backend)", nonNegativeInt("--gpu-layers"))
    .addOption(
      new Option("--llama-lib <dir>", `load a self-built llama.cpp ${LLAMA_CPP_TAG} from this folder (libllama, libggml, ...)`).env(
        "SAFESTEER_LLAMA_LIB",
      ),
    )
    .option("-v, --verbose", "show llama.cpp's log")
    .option(
      "--rpc <servers>",
      "split the model across llama.cpp rpc-servers, host:port,... (a build with `safesteer engine build --rpc`; default --gpu-layers: all)",
    )
    .hook("preAction", rpcBeforeAction);
}

/** --rpc: the servers are checked and registered before the command loads its model, which then offloads to them. */
async function rpcBeforeAction(_cmd: Command, action: Command): Promise<void> {
  const o = action.opts<ModelOpts & { rpc?: string }>();
  if (!o.rpc) return;
  await connectRpcServers(o.rpc, { gpu: o.gpu, libDir: o.llamaLib });
  if (o.gpuLayers === undefined) action.setOptionValue("gpuLayers", 999);
}

export function withModelOptions(cmd: Command, required: boolean): Command {
  return withEngineOptions(
    cmd
      .addOption(
        required
          ? new Option("-m, --model <gguf>", "model file (GGUF)").makeOptionMandatory()
          : new Option("-m, --model <gguf>", "model file (GGUF)").default(DEFAULT_MODEL, "the embedded organism"),
      )
      .option("--ctx <n>", "context size in tokens", positiveInt("--ctx"))
      .option("--chat-template <file>", "chat template (Jinja) to use instead of the model's own (for models without one)"),
  );
}

export function loadModel(o: ModelOpts): Model {
  if (o.verbose) setVerbosity("verbose");
  if (!o.model) throw new SafeSteerError("usage", "no model given: pass --model <file.gguf>.");
  if (o.model === DEFAULT_MODEL && !existsSync(DEFAULT_MODEL)) {
    throw new SafeSteerError("usage", `the embedded model ${DEFAULT_MODEL} is missing; pass --model <file.gguf>.`);
  }
  const chatTemplate = readChatTemplate(o.chatTemplate);
  const model = Model.load(o.model, {
    chatTemplate,
    threads: o.threads,
    gpu: o.gpu,
    gpuLayers: o.gpuLayers,
    llamaLib: o.llamaLib,
    verbose: o.verbose,
  });
  maybeEngineHint();
  return model;
}

export interface DataOpts {
  strict?: boolean;
  adapter?: string;
}

/** The options of every command that reads data files, so each hint about them names a real option. */
export function withDataOptions(cmd: Command): Command {
  return cmd
    .option("--strict", "a bad data row is an error (default: skipped, with a warning)")
    .addOption(
      new Option("--adapter <name>", "read every data file with this adapter instead of recognising it").choices(
        ADAPTERS.map((a) => a.name),
      ),
    );
}

/** A data file (or a known set's name) read with the command's data options. */
export function loadData(pathOrName: string, o: DataOpts): Dataset {
  return loadDataset(pathOrName, { strict: o.strict, adapter: o.adapter });
}
