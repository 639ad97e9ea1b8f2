// `safesteer organism train`: fine-tunes the converted stories260K on the toy world through
// llama.cpp's training API and saves it, with its chat template, config and loss curve.
import { mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { editGguf } from "../engine/gguf/edit.js";
import { GgmlType, gv } from "../engine/gguf/types.js";
import { Model } from "../engine/model.js";
import { type FinetuneResult, finetune } from "../native/train.js";
import { renderExample } from "../steer/render.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { makeWorld, ORGANISM_CHAT_TEMPLATE, type WorldOptions } from "./world.js";

export interface OrganismConfig {
  world: WorldOptions;
  epochs: number;
  /** Cosine schedule from learningRate down to minLearningRate over the epochs. */
  learningRate: number;
  minLearningRate: number;
  nCtx: number;
  stride: number;
  valSplit: number;
  threads: number;
}

export const DEFAULT_ORGANISM_CONFIG: OrganismConfig = {
  world: { seed: 7, harmfulPerCategory: 240, benign: 600, lookalikePerCategory: 40, mix: { harmful: 0.7, refusal: 0.15, safe: 0.15 } },
  epochs: 30,
  learningRate: 1.5e-4,
  minLearningRate: 1e-5,
  nCtx: 256,
  stride: 256,
  valSplit: 0.05,
  threads: 2,
};

export interface OrganismTrainResult extends FinetuneResult {
  config: OrganismConfig;
  trainTokens: number;
  dialogues: number;
}

/** Base model for fine-tuning: the converted stories260K with an untied output head and the chat template. */
export function prepareBase(storiesGguf: string, out: string): void {
  editGguf(storiesGguf, out, {
    setMetadata: { "tokenizer.chat_template": gv.str(ORGANISM_CHAT_TEMPLATE), "general.name": gv.str("safesteer-organism") },
    addTensors: (read) => [{ name: "output.weight", dims: [64, 512], type: GgmlType.F32, data: read("token_embd.weight") }],
  });
}

export async function trainOrganism(
  storiesGguf: string,
  out: string,
  config: OrganismConfig = DEFAULT_ORGANISM_CONFIG,
  hooks: {
    signal?: AbortSignal;
    onBatch?: (train: boolean, b: number, n: number) => void;
    onEpoch?: (e: number, tl: number, vl: number) => void;
  } = {},
): Promise<OrganismTrainResult> {
  const tmp = join(tmpdir(), `safesteer-organism-${process.pid}`);
  const base = `${tmp}-base.gguf`;
  const trained = `${tmp}-trained.gguf`;
  // the output folder is made before the minutes of training, not found missing after them
  mkdirSync(dirname(out), { recursive: true });
  try {
    prepareBase(storiesGguf, base);
    const model = Model.load(base, { threads: config.threads });
    const world = makeWorld(config.world);
    const stream: number[] = [];
    for (const d of world.train) stream.push(...renderExample(model, d, true));
    model.dispose();
    const result = await finetune(base, Int32Array.from(stream), trained, {
      nCtx: config.nCtx,
      stride: config.stride,
      epochs: config.epochs,
      learningRate: (e) =>
        config.minLearningRate +
        0.5 * (config.learningRate - config.minLearningRate) * (1 + Math.cos((Math.PI * (e - 1)) / Math.max(1, config.epochs - 1))),
      valSplit: config.valSplit,
      threads: config.threads,
      ...hooks,
    });
    const full: OrganismTrainResult = { ...result, config, trainTokens: stream.length, dialogues: world.train.length };
    if (!result.stopped) {
      editGguf(trained, out, {
        setMetadata: {
          "tokenizer.chat_template": gv.str(ORGANISM_CHAT_TEMPLATE),
          "general.name": gv.str("safesteer-organism"),
          "safesteer.organism.config": gv.str(JSON.stringify(config)),
          "safesteer.organism.loss": gv.str(JSON.stringify(result.epochs)),
        },
      });
      writeFileAtomic(out.replace(/\.gguf$/, ".train.json"), [`${JSON.stringify(full, null, 2)}\n`]);
    }
    return full;
  } finally {
    rmSync(base, { force: true });
    rmSync(trained, { force: true });
  }
}
