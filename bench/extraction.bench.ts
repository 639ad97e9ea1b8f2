// Extraction throughput: collecting mean activations at every layer for a bundle, against plain
// prefill of the same texts in the same batches.
import { dataFile, loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { collectActivations } from "../src/steer/collect.js";
import type { BenchModel } from "./engine.bench.js";
import { median } from "./stats.js";

export interface ExtractionBenchRow {
  model: string;
  texts: number;
  tokens: number;
  plain: { examplesPerS: number; tokensPerS: number };
  extraction: { examplesPerS: number; tokensPerS: number };
  ratio: number;
}

export async function extractionBench(m: BenchModel, opts: { texts: number; batch: number; rounds: number }): Promise<ExtractionBenchRow> {
  const model = Model.load(m.path);
  const catqa = loadDataset(dataFile("catqa_english.json")).examples;
  const safe = loadDataset(dataFile("harmless_alpaca.json")).examples;
  const texts = [...catqa.slice(0, opts.texts / 2), ...safe.slice(0, opts.texts / 2)].map((e) => model.tokenize(e.prompt));
  const tokens = texts.reduce((s, t) => s + t.length, 0);
  const layers = Array.from({ length: model.info.nLayer }, (_, i) => i);
  const plainCtx = new Context(model, { nCtx: 2048, nSeq: opts.batch, hooks: false });
  const capCtx = new Context(model, { nCtx: 2048, nSeq: opts.batch, hooks: true });
  const plain = async () => {
    for (let i = 0; i < texts.length; i += opts.batch) await plainCtx.evaluate(texts.slice(i, i + opts.batch));
  };
  const extract = () => collectActivations(capCtx, texts, { site: "resid_post", layers, reduce: "mean" });
  const time = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    return (performance.now() - t0) / 1000;
  };
  await plain();
  await extract();
  const tp: number[] = [];
  const te: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    tp.push(await time(plain));
    te.push(await time(extract));
  }
  plainCtx.dispose();
  capCtx.dispose();
  model.dispose();
  const sp = median(tp);
  const se = median(te);
  return {
    model: m.label,
    texts: texts.length,
    tokens,
    plain: { examplesPerS: texts.length / sp, tokensPerS: tokens / sp },
    extraction: { examplesPerS: texts.length / se, tokensPerS: tokens / se },
    ratio: sp / se,
  };
}
