// `safesteer organism train`: trains every weight of the organism (embeddings and attention K/V
// included) on the toy world. This side renders and tokenises the training dialogues with the
// model's own tokenizer and chat template, and writes the base weights as a llama2.c checkpoint;
// a short PyTorch script (tools/organism-train/train.py, a developer tool: nothing at run time
// needs it) trains them; the project's own llama2.c converter turns the result into the GGUF, and
// the config and loss curve go into its metadata and into organism.train.json beside it.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { convertLlama2c } from "../convert/llama2c.js";
import { editGguf } from "../engine/gguf/edit.js";
import { metaNumber, readGguf, readTensor } from "../engine/gguf/reader.js";
import { GgmlType, type GgufValue, gv } from "../engine/gguf/types.js";
import { Model } from "../engine/model.js";
import { SafeSteerError } from "../errors.js";
import { renderExample } from "../steer/render.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { Rng } from "../util/random.js";
import { DEFAULT_WORLD, type Dialogue, makeWorld, ORGANISM_CHAT_TEMPLATE, type WorldOptions } from "./world.js";

export interface OrganismConfig {
  world: WorldOptions;
  /** Seed of the training run (initial shuffles, batch order); the world has its own. */
  seed: number;
  epochs: number;
  /** Dialogues per optimiser step. */
  batchSize: number;
  /** AdamW; linear warm-up, then cosine from learningRate down to minLearningRate. */
  learningRate: number;
  minLearningRate: number;
  warmupSteps: number;
  weightDecay: number;
  /** Share of the training dialogues held out for the validation loss. */
  valSplit: number;
  threads: number;
  /**
   * Shape of a model trained from random weights (seeded) instead of from stories260K's weights;
   * the vocabulary is stories260K's either way. Absent: stories260K's shape and weights.
   */
  model?: { dim: number; hidden: number; layers: number; heads: number; kvHeads: number; seqLen: number };
}

export const DEFAULT_ORGANISM_CONFIG: OrganismConfig = {
  world: { seed: 7, ...DEFAULT_WORLD },
  seed: 1,
  epochs: 6,
  batchSize: 32,
  learningRate: 3e-3,
  minLearningRate: 1e-4,
  warmupSteps: 30,
  weightDecay: 0.01,
  valSplit: 0.05,
  // one thread: the small matrices gain nothing from two, and lose much when other jobs share the cores
  threads: 1,
};

export interface EpochLoss {
  epoch: number;
  /** Mean cross-entropy per answer token (nats). */
  trainLoss: number;
  valLoss: number;
  /** Seconds since training started. */
  seconds: number;
}

export interface OrganismTrainResult {
  epochs: EpochLoss[];
  config: OrganismConfig;
  /** Training dialogues (after the validation split) and their tokens. */
  dialogues: number;
  trainTokens: number;
  /** Tokens the loss covers (answers and their end-of-sequence token). */
  answerTokens: number;
  seconds: number;
  stopped: boolean;
  trainer: string;
}

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
/** The PyTorch training script (in a checkout; the npm package does not ship it). */
export const TRAIN_SCRIPT = join(ROOT, "tools", "organism-train", "train.py");

/** Base model for training: the converted stories260K with an untied output head and the chat template. */
export function prepareBase(storiesGguf: string, out: string): void {
  editGguf(storiesGguf, out, {
    setMetadata: { "tokenizer.chat_template": gv.str(ORGANISM_CHAT_TEMPLATE), "general.name": gv.str("safesteer-organism") },
    addTensors: (read) => {
      const f = readGguf(storiesGguf);
      if (f.tensors.some((t) => t.name === "output.weight")) return [];
      const embd = f.tensors.find((t) => t.name === "token_embd.weight");
      return [{ name: "output.weight", dims: embd?.dims ?? [], type: GgmlType.F32, data: read("token_embd.weight") }];
    },
  });
}

/** A llama GGUF's weights as a llama2.c checkpoint (legacy format; negative vocab size: untied head). */
export function ggufToLlama2c(gguf: string, out: string): void {
  const f = readGguf(gguf);
  const n = (k: string) => {
    const v = metaNumber(f, `llama.${k}`);
    if (v === undefined) throw new SafeSteerError("bad_argument", `${gguf} has no llama.${k}: not a llama model.`);
    return v;
  };
  const dim = n("embedding_length");
  const nLayer = n("block_count");
  const nHead = n("attention.head_count");
  const seqLen = n("context_length");
  const t = (name: string) => readTensor(f, name);
  const vocab = t("token_embd.weight").length / dim;
  const untied = f.tensors.some((x) => x.name === "output.weight");
  const header = Int32Array.from([
    dim,
    n("feed_forward_length"),
    nLayer,
    nHead,
    n("attention.head_count_kv"),
    untied ? -vocab : vocab,
    seqLen,
  ]);
  const per = (s: string) => Array.from({ length: nLayer }, (_, l) => t(`blk.${l}.${s}.weight`));
  const parts: Float32Array[] = [
    t("token_embd.weight"),
    ...per("attn_norm"),
    ...per("attn_q"),
    ...per("attn_k"),
    ...per("attn_v"),
    ...per("attn_output"),
    ...per("ffn_norm"),
    ...per("ffn_gate"),
    ...per("ffn_down"),
    ...per("ffn_up"),
    t("output_norm.weight"),
    new Float32Array(seqLen * (dim / nHead)),
    ...(untied ? [t("output.weight")] : []),
  ];
  writeFileSync(out, Buffer.concat([Buffer.from(header.buffer), ...parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.byteLength))]));
}

/** A GGUF's SentencePiece vocabulary as a llama2.c tokenizer.bin (what `convert llama2c --tokenizer` reads). */
export function ggufToLlama2cTokenizer(gguf: string, out: string): void {
  const f = readGguf(gguf);
  const arr = (k: string) => (f.metadata.get(k) as Extract<GgufValue, { value: unknown[] }> | undefined)?.value ?? [];
  const tokens = arr("tokenizer.ggml.tokens") as string[];
  const scores = arr("tokenizer.ggml.scores") as number[];
  const pieces = tokens.map((p) => Buffer.from(p.replace(/\u2581/g, " "), "utf8"));
  const head = Buffer.alloc(4);
  head.writeInt32LE(Math.max(...pieces.map((p) => p.length)));
  const rows = pieces.map((p, i) => {
    const b = Buffer.alloc(8);
    b.writeFloatLE(scores[i] ?? 0, 0);
    b.writeInt32LE(p.length, 4);
    return Buffer.concat([b, p]);
  });
  writeFileSync(out, Buffer.concat([head, ...rows]));
}

/**
 * Each dialogue as the model sees it, and where its last answer starts (the loss covers that answer
 * and its end; earlier turns are context).
 */
export function tokenizeDialogues(
  model: Model,
  dialogues: Pick<Dialogue, "prompt" | "response" | "history">[],
): { tokens: number[][]; starts: number[] } {
  const tokens: number[][] = [];
  const starts: number[] = [];
  for (const d of dialogues) {
    const head = renderExample(model, { prompt: d.prompt, history: d.history }, true);
    const full = renderExample(model, d, true);
    let k = 0;
    while (k < head.length && k < full.length - 1 && head[k] === full[k]) k++;
    tokens.push(full);
    starts.push(k);
  }
  return { tokens, starts };
}

/** A python3 that has PyTorch: $SAFESTEER_PYTHON, else python3 on the PATH, else /usr/bin/python3. */
export function findTorchPython(): string {
  const candidates = process.env.SAFESTEER_PYTHON ? [process.env.SAFESTEER_PYTHON] : ["python3", "/usr/bin/python3"];
  for (const c of candidates) {
    const r = spawnSync(c, ["-c", "import torch"], { stdio: "ignore" });
    if (r.status === 0) return c;
  }
  throw new SafeSteerError(
    "usage",
    `organism train needs PyTorch, which no python3 here has (tried ${candidates.join(", ")}): install it (Debian: apt-get install python3-torch) or set SAFESTEER_PYTHON to a python3 that has it.`,
  );
}

type TrainHooks = { signal?: AbortSignal; onEpoch?: (e: EpochLoss) => void; onLog?: (line: string) => void };

/** Runs the training script, reading its one JSON line per epoch; stopped: aborted through the signal. */
function runTrainer(python: string, args: string[], hooks: TrainHooks): Promise<{ epochs: EpochLoss[]; stopped: boolean }> {
  const epochs: EpochLoss[] = [];
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    let buf = "";
    const onAbort = () => child.kill("SIGTERM");
    hooks.signal?.addEventListener("abort", onAbort, { once: true });
    child.stdout.on("data", (d: Buffer) => {
      buf += d.toString();
      let nl = buf.indexOf("\n");
      while (nl >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        nl = buf.indexOf("\n");
        if (!line) continue;
        hooks.onLog?.(line);
        const row = JSON.parse(line) as Partial<EpochLoss> & { done?: boolean };
        if (row.epoch !== undefined) {
          const e = row as EpochLoss;
          epochs.push(e);
          hooks.onEpoch?.(e);
        }
      }
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", (e) => reject(new SafeSteerError("internal", `could not run ${python}: ${e.message}`)));
    child.on("close", (code) => {
      hooks.signal?.removeEventListener("abort", onAbort);
      if (hooks.signal?.aborted) resolve({ epochs, stopped: true });
      else if (code === 0) resolve({ epochs, stopped: false });
      else
        reject(
          new SafeSteerError("internal", `the training script failed (exit ${code}): ${err.trim().split("\n").slice(-3).join(" | ")}`),
        );
    });
  });
}

export async function trainOrganism(
  storiesGguf: string,
  out: string,
  config: OrganismConfig = DEFAULT_ORGANISM_CONFIG,
  hooks: TrainHooks = {},
): Promise<OrganismTrainResult> {
  if (!existsSync(TRAIN_SCRIPT))
    throw new SafeSteerError(
      "usage",
      `the training script ${TRAIN_SCRIPT} is missing: organism train runs from a checkout of the repository.`,
    );
  const python = findTorchPython();
  // the output folder is made before the minutes of training, not found missing after them
  mkdirSync(dirname(out), { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "safesteer-organism-train-"));
  try {
    const base = join(tmp, "base.gguf");
    prepareBase(storiesGguf, base);
    const model = Model.load(base, { threads: 1 });
    const world = makeWorld(config.world);
    const all = tokenizeDialogues(model, world.train);
    const vocab = model.info.nVocab;
    model.dispose();
    // a seeded validation split of whole dialogues
    const order = new Rng(config.seed).shuffled(all.tokens.map((_, i) => i));
    const nVal = Math.max(1, Math.round(order.length * config.valSplit));
    const pick = (idx: number[]) => ({
      tokens: idx.map((i) => all.tokens[i] as number[]),
      starts: idx.map((i) => all.starts[i] as number),
    });
    const val = pick(order.slice(0, nVal).sort((a, b) => a - b));
    const train = pick(order.slice(nVal).sort((a, b) => a - b));
    writeFileSync(
      join(tmp, "data.json"),
      JSON.stringify({ train: train.tokens, trainStart: train.starts, val: val.tokens, valStart: val.starts }),
    );
    const { world: _w, valSplit: _v, ...trainerConfig } = config;
    writeFileSync(
      join(tmp, "config.json"),
      JSON.stringify({ ...trainerConfig, ...(config.model ? { model: { ...config.model, vocab } } : {}) }),
    );
    ggufToLlama2c(base, join(tmp, "base.bin"));
    ggufToLlama2cTokenizer(base, join(tmp, "tokenizer.bin"));

    const t0 = Date.now();
    const { epochs, stopped } = await runTrainer(
      python,
      [
        TRAIN_SCRIPT,
        "--base",
        config.model ? "-" : join(tmp, "base.bin"),
        "--data",
        join(tmp, "data.json"),
        "--config",
        join(tmp, "config.json"),
        "--out",
        join(tmp, "trained.bin"),
      ],
      hooks,
    );
    const result: OrganismTrainResult = {
      epochs,
      config,
      dialogues: train.tokens.length,
      trainTokens: train.tokens.reduce((n, t) => n + t.length, 0),
      answerTokens: train.tokens.reduce((n, t, i) => n + t.length - (train.starts[i] as number), 0),
      seconds: (Date.now() - t0) / 1000,
      stopped,
      trainer: "tools/organism-train/train.py (PyTorch, every weight)",
    };
    if (stopped) return result;
    // the project's own converter reads the trained checkpoint
    const converted = join(tmp, "trained.gguf");
    convertLlama2c(join(tmp, "trained.bin"), join(tmp, "tokenizer.bin"), converted, {
      name: "safesteer-organism",
      chatTemplate: ORGANISM_CHAT_TEMPLATE,
    });
    const { seconds: _s, ...recorded } = result;
    editGguf(converted, out, {
      setMetadata: {
        "safesteer.organism.config": gv.str(JSON.stringify(config)),
        "safesteer.organism.loss": gv.str(JSON.stringify(epochs.map(({ seconds: _t, ...e }) => e))),
        "safesteer.organism.trainer": gv.str(recorded.trainer),
      },
    });
    writeFileAtomic(out.replace(/\.gguf$/, ".train.json"), [`${JSON.stringify(result, null, 2)}\n`]);
    return result;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
