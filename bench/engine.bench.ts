// Engine benchmarks: decode speed unsteered vs natively steered, prefill speed plain vs capturing
// resid_post at every layer (mean reduction). Reported as ratios measured in one run.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { writeRandomLlamaGguf } from "../src/convert/random-model.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { Rng } from "../src/util/random.js";
import { steeringSwitch } from "../test/support/steering.js";
import { median } from "./stats.js";

export interface BenchModel {
  label: string;
  path: string;
}

export interface EngineBenchRow {
  model: string;
  nEmbd: number;
  nLayer: number;
  decodeTokPerS: { unsteered: number; steered: number; ratio: number };
  prefillTokPerS: { plain: number; capture: number; ratio: number };
}

export function benchModels(root: string): BenchModel[] {
  const cache = join(root, ".cache", "bench");
  mkdirSync(cache, { recursive: true });
  const big = join(cache, "random-2048x8-f16.gguf");
  if (!existsSync(big)) {
    process.stderr.write("writing a random 2048-wide, 8-layer F16 model (once)...\n");
    writeRandomLlamaGguf(big, { nEmbd: 2048, nLayer: 8, nHead: 16, nFf: 5632, nVocab: 32000, type: "f16", seed: 1 });
  }
  return [
    { label: "stories260K", path: join(root, "models", "stories260K.gguf") },
    { label: "random 2048x8 F16", path: big },
  ];
}

/** Decodes n single tokens after a short prompt; returns tokens per second. */
async function decodeRate(ctx: Context, n: number, vocab: number): Promise<number> {
  ctx.clearMemory();
  const prompt = [1, 5, 9, 13];
  await ctx.decode({ tokens: prompt, positions: [0, 1, 2, 3], seqIds: [0, 0, 0, 0], outputs: [0, 0, 0, 1] });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    await ctx.decode({ tokens: [(i * 31 + 7) % vocab], positions: [4 + i], seqIds: [0], outputs: [1] });
    ctx.logits(0);
  }
  return (n * 1000) / (performance.now() - t0);
}

export async function engineBench(
  m: BenchModel,
  opts: { rounds: number; decodeTokens: number; prefillSeqs: number; prefillLen: number },
): Promise<EngineBenchRow> {
  const model = Model.load(m.path);
  const { nEmbd, nLayer, nVocab } = model.info;
  const rng = new Rng(3);

  // decode: the same context, control vector on every steerable layer or none; rounds interleaved
  const dctx = new Context(model, { nCtx: 1024, hooks: false });
  const dsteer = steeringSwitch(dctx);
  const steering = Array.from({ length: nLayer - 1 }, (_, i) => ({
    site: "resid_post" as const,
    layer: i + 1,
    vector: Float32Array.from({ length: nEmbd }, () => rng.normal() * 0.01),
  }));
  await decodeRate(dctx, 8, nVocab); // warm-up
  const plainD: number[] = [];
  const steerD: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    dsteer.clear();
    plainD.push(await decodeRate(dctx, opts.decodeTokens, nVocab));
    await dsteer.set(steering);
    steerD.push(await decodeRate(dctx, opts.decodeTokens, nVocab));
  }
  dsteer.clear();
  dctx.dispose();

  // prefill: the same texts, plain (no hooks) vs capturing resid_post at all layers, mean reduction
  const seqs = Array.from({ length: opts.prefillSeqs }, () => Array.from({ length: opts.prefillLen }, () => 3 + rng.int(nVocab - 3)));
  const nCtx = opts.prefillSeqs * opts.prefillLen;
  const plainCtx = new Context(model, { nCtx, nSeq: opts.prefillSeqs, nBatch: 512, hooks: false });
  const capCtx = new Context(model, { nCtx, nSeq: opts.prefillSeqs, nBatch: 512, hooks: true });
  const layers = Array.from({ length: nLayer }, (_, i) => i);
  const timeIt = async (f: () => Promise<unknown>) => {
    const t0 = performance.now();
    await f();
    return (nCtx * 1000) / (performance.now() - t0);
  };
  await plainCtx.evaluate(seqs.slice(0, 1));
  await capCtx.evaluate(seqs.slice(0, 1), { capture: { site: "resid_post", layers, reduce: "mean" }, logits: "none" });
  const plainP: number[] = [];
  const capP: number[] = [];
  for (let r = 0; r < opts.rounds; r++) {
    plainP.push(await timeIt(() => plainCtx.evaluate(seqs)));
    capP.push(await timeIt(() => capCtx.evaluate(seqs, { capture: { site: "resid_post", layers, reduce: "mean" }, logits: "none" })));
  }
  plainCtx.dispose();
  capCtx.dispose();
  model.dispose();
  const d = { unsteered: median(plainD), steered: median(steerD) };
  const p = { plain: median(plainP), capture: median(capP) };
  return {
    model: m.label,
    nEmbd,
    nLayer,
    decodeTokPerS: { ...d, ratio: d.steered / d.unsteered },
    prefillTokPerS: { ...p, ratio: p.capture / p.plain },
  };
}
