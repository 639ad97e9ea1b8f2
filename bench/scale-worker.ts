// One model of the scaling bench, in a fresh process so its peak memory is its own. Every step is
// timed next to the plain forward passes it needs (same texts, same batches, no capture/steering):
//   node --import tsx bench/scale-worker.ts '<json ScaleSpec>'   -> one JSON line on stdout
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Dataset } from "../src/data/example.js";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { generateBatch } from "../src/engine/generate.js";
import { Model } from "../src/engine/model.js";
import { pairLikelihood, pairsOf } from "../src/eval/likelihood.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { ORGANISM_STOP } from "../src/organism/world.js";
import { withSteering } from "../src/steer/apply.js";
import { buildBundle } from "../src/steer/build.js";
import { writeBundle } from "../src/steer/bundle.js";
import { collectActivations } from "../src/steer/collect.js";
import { calibrateFromActivations, DEFAULT_SHRINKAGE } from "../src/steer/detect.js";
import { renderExample, usesChat } from "../src/steer/render.js";
import { Rng } from "../src/util/random.js";
import { serveRows } from "./server.bench.js";

export interface ScaleSpec {
  model: string;
  /** Pairs (unsafe + safe answer each) the bundle is built from. */
  buildPairs: number;
  /** Calibration prompts of the detector (harmful with a category, and benign). */
  detectorPrompts: number;
  /** Prompts generated, and tokens each (eval). */
  evalPrompts: number;
  evalTokens: number;
  likelihoodPairs: number;
  /** Streamed requests per client in the serve step (1 and 4 clients, mixed policies), and tokens each. */
  serveRequests: number;
  serveTokens: number;
  threads: number;
  /**
   * Only the detector, for a wide model on few layers: its capture of detectorPrompts prompts, and
   * its fit on fitRows rows (the captured rows again with noise: the fit's cost depends on the
   * count, not the values).
   */
  detectorOnly?: { fitRows: number };
}

export interface DetectorOnlyResult {
  nEmbd: number;
  nLayer: number;
  prompts: number;
  tokens: number;
  captureS: number;
  fitRows: number;
  fitS: number;
  peakRssMiB: number;
}

/** Seconds of one step and of its plain forward passes; ratio = step / plain. */
export interface StepTime {
  s: number;
  plainS: number;
  ratio: number;
  tokens: number;
}

export interface ScaleResult {
  nEmbd: number;
  nLayer: number;
  nParams: number;
  fileType: string;
  steps: {
    build: StepTime;
    /** capture: the detector's forward passes; fit: its linear algebra (all layers, all categories). */
    detector: StepTime & { captureS: number; fitS: number };
    eval: StepTime;
    likelihood: StepTime;
    serve: { clients: number; mix: string; tokensPerS: number; ttftP50Ms: number; plainTokensPerS: number; ratio: number }[];
  };
  peakRssMiB: number;
  /** CPU seconds of the worker process (user + system): what the row costs on an idle machine. */
  cpuS: number;
}

const seconds = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
  const t0 = performance.now();
  const out = await f();
  return [out, (performance.now() - t0) / 1000];
};

/** Plain prefill of texts in batches of the context's sequences (no capture, no logits). */
async function prefill(ctx: Context, texts: number[][]): Promise<number> {
  const [, s] = await seconds(async () => {
    for (let i = 0; i < texts.length; i += ctx.nSeq) await ctx.evaluate(texts.slice(i, i + ctx.nSeq), { logits: "none" });
  });
  return s;
}

const step = (s: number, plainS: number, tokens: number): StepTime => ({ s, plainS, ratio: s / plainS, tokens });

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

async function main(spec: ScaleSpec): Promise<ScaleResult> {
  const dir = mkdtempSync(join(tmpdir(), "safesteer-scale-"));
  const model = Model.load(spec.model, { threads: spec.threads });
  const { nEmbd, nLayer, nParams, fileType } = model.info;
  const layers = Array.from({ length: nLayer }, (_, i) => i);
  const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
  const plainCtx = new Context(model, { nCtx: 4096, nSeq: 16, hooks: false });
  try {
    const files = writeOrganismFiles(dir);
    const chat = usesChat(model, "auto");
    // build: every layer a candidate, as `safesteer build` does by default
    const pairs = loadDataset(files.vectors);
    const data: Dataset = { ...pairs, examples: pairs.examples.slice(0, spec.buildPairs * 2) };
    let buildTokens = 0;
    const [bundle, buildS] = await seconds(() =>
      buildBundle(ctx, [data], undefined, {
        layers: "auto",
        chat: "auto",
        onWarning: () => {},
        onProgress: (_d, _t, tokens) => {
          buildTokens = tokens;
        },
      }),
    );
    const buildTexts = data.examples.map((e) => renderExample(model, e, chat));
    const build = step(buildS, await prefill(plainCtx, buildTexts), buildTokens);
    const bundlePath = join(dir, "scale.bundle.gguf");
    writeBundle(bundlePath, bundle);

    // detector: its capture, then its fit from the activations (calibrateDetector's two halves)
    const prompts = loadDataset(files.trainPrompts).examples;
    const harmful = prompts.filter((e) => e.meta?.kind === "harmful").slice(0, Math.round(spec.detectorPrompts * 0.6));
    const benign = prompts.filter((e) => e.meta?.kind !== "harmful").slice(0, spec.detectorPrompts - harmful.length);
    const all = [...harmful, ...benign];
    const cats = all.map((e, i) => (i < harmful.length ? e.category : undefined));
    const texts = all.map((e) => renderExample(model, { prompt: e.prompt }, chat));
    const [acts, captureS] = await seconds(() => collectActivations(ctx, texts, { site: "resid_post", layers, reduce: "mean" }));
    const [, fitS] = await seconds(async () =>
      calibrateFromActivations(acts, cats, { site: "resid_post", reduce: "mean", falseAlarms: 0.05, shrinkage: DEFAULT_SHRINKAGE }),
    );
    const detPlain = await prefill(plainCtx, texts);
    const detector = { ...step(captureS + fitS, detPlain, acts.tokens), captureS, fitS };

    // eval: steered generation (every category at its tuned strength) against the same unsteered
    const evalPrompts = all.slice(0, spec.evalPrompts).map((e) => renderExample(model, { prompt: e.prompt }, chat));
    const gen = { temperature: 0.8, maxTokens: spec.evalTokens, stop: ORGANISM_STOP, seeds: evalPrompts.map((_, i) => i + 1) };
    const generateAll = async (c: Context) => {
      let n = 0;
      for (let i = 0; i < evalPrompts.length; i += c.nSeq) {
        const out = await generateBatch(c, evalPrompts.slice(i, i + c.nSeq), { ...gen, seeds: gen.seeds.slice(i, i + c.nSeq) });
        n += out.reduce((a, o) => a + o.tokens.length, 0);
      }
      return n;
    };
    const [steeredTokens, evalS] = await seconds(() => withSteering(ctx, { bundle, policy: "all" }, () => generateAll(ctx)));
    const [plainTokens, evalPlainS] = await seconds(() => generateAll(plainCtx));
    // per generated token: the two runs may stop at different lengths
    const evalStep = step(evalS, (evalPlainS * steeredTokens) / Math.max(1, plainTokens), steeredTokens);

    // likelihood: both answers of each pair scored, against plain prefill of the same texts
    const lpairs = pairsOf(loadDataset(files.testPairs).examples).slice(0, spec.likelihoodPairs);
    const [, likS] = await seconds(() => pairLikelihood(ctx, lpairs, chat));
    const scored = lpairs.flatMap((p) => [p.safe, p.unsafe].map((r) => renderExample(model, { prompt: p.prompt, response: r }, chat)));
    const likelihood = step(
      likS,
      await prefill(plainCtx, scored),
      scored.reduce((a, t) => a + t.length, 0),
    );
    ctx.dispose();
    plainCtx.dispose();

    // serve: the server on this model and bundle; plain: unsteered generation at the same batch
    const serveRowsOut = await serveRows({
      model: spec.model,
      bundle: bundlePath,
      requestsPerClient: spec.serveRequests,
      maxTokens: spec.serveTokens,
      clients: [1, 4],
      // mixed only: its first client is steered, so at 1 client it is the shared policy's row too
      mixes: ["mixed"],
      threads: spec.threads,
    });
    const plainRate = plainTokens / evalPlainS;
    const serve = serveRowsOut.map((r) => ({
      clients: r.clients,
      mix: r.mix,
      tokensPerS: r.tokensPerS,
      ttftP50Ms: r.ttftP50Ms,
      plainTokensPerS: plainRate,
      ratio: plainRate / r.tokensPerS,
    }));
    return {
      nEmbd,
      nLayer,
      nParams,
      fileType,
      steps: { build, detector, eval: evalStep, likelihood, serve },
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      cpuS: cpuSeconds(),
    };
  } finally {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function detectorOnly(spec: ScaleSpec, fitRows: number): Promise<DetectorOnlyResult> {
  const dir = mkdtempSync(join(tmpdir(), "safesteer-scale-"));
  const model = Model.load(spec.model, { threads: spec.threads });
  const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
  try {
    const { nEmbd, nLayer } = model.info;
    const layers = Array.from({ length: nLayer }, (_, i) => i);
    const prompts = loadDataset(writeOrganismFiles(dir).trainPrompts).examples.slice(0, spec.detectorPrompts);
    const chat = usesChat(model, "auto");
    const texts = prompts.map((e) => renderExample(model, { prompt: e.prompt }, chat));
    const [acts, captureS] = await seconds(() => collectActivations(ctx, texts, { site: "resid_post", layers, reduce: "mean" }));
    const rng = new Rng(5);
    const byLayer = new Map(
      layers.map((l) => {
        const src = acts.byLayer.get(l) as Float32Array;
        return [l, Float32Array.from({ length: fitRows * nEmbd }, (_, k) => (src[k % src.length] as number) + rng.normal() * 0.01)];
      }),
    );
    const cats = Array.from({ length: fitRows }, (_, i) => prompts[i % prompts.length]?.category);
    const wide = { ...acts, n: fitRows, byLayer };
    const [, fitS] = await seconds(async () =>
      calibrateFromActivations(wide, cats, { site: "resid_post", reduce: "mean", falseAlarms: 0.05, shrinkage: DEFAULT_SHRINKAGE }),
    );
    return {
      nEmbd,
      nLayer,
      prompts: texts.length,
      tokens: acts.tokens,
      captureS,
      fitRows,
      fitS,
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    };
  } finally {
    ctx.dispose();
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

const spec = JSON.parse(process.argv[2] as string) as ScaleSpec;
const result = spec.detectorOnly ? await detectorOnly(spec, spec.detectorOnly.fitRows) : await main(spec);
process.stdout.write(`${JSON.stringify(result)}\n`);
