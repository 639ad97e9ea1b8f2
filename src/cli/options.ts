// Options and helpers shared by the CLI commands.
import { existsSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { GpuChoice } from "../engine/model.js";
import { Model } from "../engine/model.js";
import { SafeSteerError } from "../errors.js";
import { DEFAULT_MODEL } from "../models.js";
import { setVerbosity } from "../util/logger.js";

export function int(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer, got "${v}".`);
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
}

/** How llama.cpp runs: threads, backend, a self-built library folder, its log. */
export function withEngineOptions(cmd: Command): Command {
  return cmd
    .option("--threads <n>", "CPU threads (default: 1 for models under 50M parameters, else all cores)", int("--threads"))
    .addOption(
      new Option("--gpu <backend>", "compute backend (a GPU build needs its npm package, or --llama-lib)")
        .choices(["cpu", "cuda", "vulkan", "metal", "auto"])
        .default("cpu"),
    )
    .option("--gpu-layers <n>", "layers to offload to the GPU (default: all with a GPU backend)", int("--gpu-layers"))
    .addOption(
      new Option("--llama-lib <dir>", "load a self-built llama.cpp v0.4.0 from this folder (libllama, libggml, ...)").env(
        "SAFESTEER_LLAMA_LIB",
      ),
    )
    .option("-v, --verbose", "show llama.cpp's log");
}

export function withModelOptions(cmd: Command, required: boolean): Command {
  return withEngineOptions(
    cmd
      .addOption(
        required
          ? new Option("-m, --model <gguf>", "model file (GGUF)").makeOptionMandatory()
          : new Option("-m, --model <gguf>", "model file (GGUF)").default(DEFAULT_MODEL, "the embedded organism"),
      )
      .option("--ctx <n>", "context size in tokens", int("--ctx")),
  );
}

export function loadModel(o: ModelOpts): Model {
  if (o.verbose) setVerbosity("verbose");
  if (!o.model) throw new SafeSteerError("usage", "no model given: pass --model <file.gguf>.");
  if (o.model === DEFAULT_MODEL && !existsSync(DEFAULT_MODEL)) {
    throw new SafeSteerError("usage", `the embedded model ${DEFAULT_MODEL} is missing; pass --model <file.gguf>.`);
  }
  return Model.load(o.model, {
    threads: o.threads,
    gpu: o.gpu,
    gpuLayers: o.gpuLayers,
    llamaLib: o.llamaLib,
    verbose: o.verbose,
  });
}
