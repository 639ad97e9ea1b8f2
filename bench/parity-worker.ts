// One measurement of ours for the parity bench, in a fresh process (the llama.cpp build is chosen once
// per process, and each line gets a cold start like a user's run). Usage:
//   node --import tsx bench/parity-worker.ts '<json spec>'   -> one JSON line on stdout
import { openSync, writeSync } from "node:fs";
import { Context, type SteeringVector } from "../src/engine/context.js";
import { generateStream } from "../src/engine/generate.js";
import { Model } from "../src/engine/model.js";
import { engineInfo } from "../src/engine/runtime.js";
import { Rng } from "../src/util/random.js";
import { median } from "./stats.js";

export type WorkerSpec =
  | { kind: "generate"; model: string; threads: number; prompt: string; maxTokens: number; runs: number; nCtx: number }
  | { kind: "prefill"; model: string; threads: number; tokens: number; reps: number }
  | { kind: "steer"; model: string; threads: number; prompt: string; maxTokens: number; runs: number; rounds: number; nCtx: number };

export interface GenerateResult {
  tokPerS: number;
  tokens: number;
  runs: number;
}

const devNull = openSync(process.platform === "win32" ? "\\\\.\\NUL" : "/dev/null", "w");

/**
 * Generation as a user gets it (the CLI's path: generateStream, sampling on, text written out), from
 * the first streamed token to the last: tokens after the first per second (prefill excluded, as in
 * llama-completion's eval time). Several runs with successive seeds, because the organism ends its
 * answers after a few dozen tokens.
 */
async function generateRate(ctx: Context, prompt: number[], maxTokens: number, runs: number, seed0 = 0): Promise<GenerateResult> {
  let tokens = 0;
  let ms = 0;
  for (let s = 0; s < runs; s++) {
    let t0 = 0;
    let first = true;
    for await (const e of generateStream(ctx, [prompt], { maxTokens, seed: seed0 + s })) {
      if (e.type === "token") {
        if (first) t0 = performance.now();
        first = false;
        writeSync(devNull, e.text);
      } else if (e.tokens.length > 1 && !first) {
        ms += performance.now() - t0;
        tokens += e.tokens.length - 1;
      }
    }
  }
  return { tokPerS: (tokens * 1000) / ms, tokens, runs };
}

async function main(spec: WorkerSpec): Promise<Record<string, unknown>> {
  const model = Model.load(spec.model, { threads: spec.threads });
  const info = engineInfo();
  const build = { build: info.build, libraryDir: info.libraryDir };
  try {
    if (spec.kind === "generate") {
      const ctx = new Context(model, { nCtx: spec.nCtx, hooks: false });
      const prompt = model.tokenize(spec.prompt);
      await generateRate(ctx, prompt, 4, 1); // warm-up
      const r = await generateRate(ctx, prompt, spec.maxTokens, spec.runs, 1);
      ctx.dispose();
      return { ...build, ...r };
    }
    if (spec.kind === "prefill") {
      // llama-bench's pp test: one batch of `tokens` random tokens into an empty cache, repeated
      const ctx = new Context(model, { nCtx: spec.tokens, nBatch: spec.tokens, hooks: false });
      const rng = new Rng(7);
      const seq = Array.from({ length: spec.tokens }, () => 3 + rng.int(model.info.nVocab - 3));
      await ctx.evaluate([seq]);
      const rates: number[] = [];
      for (let r = 0; r < spec.reps; r++) {
        const t0 = performance.now();
        await ctx.evaluate([seq]);
        rates.push((spec.tokens * 1000) / (performance.now() - t0));
      }
      ctx.dispose();
      rates.sort((a, b) => a - b);
      return { ...build, tokPerS: rates[Math.floor(rates.length / 2)], rates };
    }
    // steered against unsteered generation, alternating in one process: unsteered (no hooks, as the CLI
    // runs it), a native control vector on every layer (no hooks), a write hook at attn_out of the middle
    // layer (a context with hooks, as the CLI makes for such a vector)
    const { nLayer, nEmbd } = model.info;
    const rng = new Rng(3);
    const vec = () => Float32Array.from({ length: nEmbd }, () => rng.normal() * 0.01);
    const native: SteeringVector[] = Array.from({ length: nLayer - 1 }, (_, i) => ({ site: "resid_post", layer: i + 1, vector: vec() }));
    const hook: SteeringVector[] = [{ site: "attn_out", layer: Math.floor(nLayer / 2), vector: vec() }];
    const plainCtx = new Context(model, { nCtx: spec.nCtx, hooks: false });
    const hookCtx = new Context(model, { nCtx: spec.nCtx, hooks: true });
    const prompt = model.tokenize(spec.prompt);
    const rates = { unsteered: [] as number[], native: [] as number[], hook: [] as number[] };
    const once = async (which: keyof typeof rates) => {
      const ctx = which === "hook" ? hookCtx : plainCtx;
      const h = which === "unsteered" ? undefined : await ctx.applySteering(which === "native" ? native : hook);
      try {
        rates[which].push((await generateRate(ctx, prompt, spec.maxTokens, spec.runs, 1)).tokPerS);
      } finally {
        h?.release();
      }
    };
    for (const w of ["unsteered", "native", "hook"] as const) await once(w); // warm-up
    for (const k of Object.keys(rates) as Array<keyof typeof rates>) rates[k].length = 0;
    for (let r = 0; r < spec.rounds; r++) {
      const order = (["unsteered", "native", "hook"] as const).map((_, i, a) => a[(i + r) % a.length] as keyof typeof rates);
      for (const w of order) await once(w);
    }
    plainCtx.dispose();
    hookCtx.dispose();
    return { ...build, unsteered: median(rates.unsteered), native: median(rates.native), hook: median(rates.hook), rates };
  } finally {
    model.dispose();
  }
}

const spec = JSON.parse(process.argv[2] ?? "{}") as WorkerSpec;
const out = await main(spec);
process.stdout.write(`\n${JSON.stringify(out)}\n`);
