// The scaling bench: random llama-architecture models of growing width, F16 and Q4_K_M, each in its
// own process (scale-worker.ts), every step timed next to the plain forward passes it needs; then
// each step's growth exponent against width and against parameters (least squares on log-log).
// Default sizes took 6.5 minutes on a busy 2-core machine (2.6 at --threads=1, the models already
// written), within CI's 20; --large adds models up to ~3B parameters. --detector-4096 times the detector alone on a 4096-wide model with few layers.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { writeRandomLlamaGguf } from "../src/convert/random-model.js";
import { quantizeModel } from "../src/engine/quantize.js";
import type { DetectorOnlyResult, ScaleResult, ScaleSpec } from "./scale-worker.js";

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "scale-worker.ts");

interface Size {
  nEmbd: number;
  nLayer: number;
  nHead: number;
}

const VOCAB = 8192;
export const DEFAULT_SIZES: Size[] = [
  { nEmbd: 256, nLayer: 4, nHead: 4 },
  { nEmbd: 512, nLayer: 4, nHead: 8 },
  { nEmbd: 1024, nLayer: 4, nHead: 16 },
];
/** Behind --large: about 0.9B and 3.1B parameters. */
export const LARGE_SIZES: Size[] = [
  { nEmbd: 2048, nLayer: 16, nHead: 16 },
  { nEmbd: 3072, nLayer: 26, nHead: 24 },
];
export const FILE_TYPES = ["F16", "Q4_K_M"] as const;

export interface ScaleRow extends ScaleResult {
  label: string;
  /** Wall seconds of the row's worker process. */
  wallS: number;
}

export interface ScaleBench {
  workload: Omit<ScaleSpec, "model" | "detectorOnly">;
  /** Wall seconds of the whole bench (models written and quantized when not cached, every worker). */
  wallS: number;
  /** The load average (1, 5, 15 minutes) at the start and at the end: other jobs slow every number. */
  loadBefore: number[];
  loadAfter: number[];
  rows: ScaleRow[];
  /** Per step and file type: slope of log(seconds) against log(width) and log(parameters). */
  exponents: Array<{ step: string; fileType: string; width: number; params: number }>;
  detector4096?: DetectorOnlyResult & { label: string };
}

/** The model file of a size and type, written (and quantized) once into the bench cache. */
async function modelFile(cache: string, s: Size, type: (typeof FILE_TYPES)[number], log: (s: string) => void): Promise<string> {
  const f16 = join(cache, `scale-${s.nEmbd}x${s.nLayer}-v${VOCAB}-f16.gguf`);
  if (!existsSync(f16)) {
    log(`writing a random ${s.nEmbd}-wide, ${s.nLayer}-layer F16 model (once)`);
    writeRandomLlamaGguf(f16, { nEmbd: s.nEmbd, nLayer: s.nLayer, nHead: s.nHead, nVocab: VOCAB, type: "f16", seed: 1 });
  }
  if (type === "F16") return f16;
  const q = f16.replace("-f16.gguf", "-q4_k_m.gguf");
  if (!existsSync(q)) {
    log(`quantizing it to Q4_K_M (once)`);
    await quantizeModel(f16, q, { type: "Q4_K_M" });
  }
  return q;
}

function runWorker<T>(spec: ScaleSpec): T {
  const r = spawnSync(process.execPath, ["--import", "tsx", WORKER, JSON.stringify(spec)], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = r.stdout.trim().split("\n").at(-1) ?? "";
  if (r.status !== 0 || !line.startsWith("{")) throw new Error(`the scale worker failed (${r.status ?? r.signal}) on ${spec.model}`);
  return JSON.parse(line) as T;
}

/** Least-squares slope of log(y) on log(x). */
export function growthExponent(xs: number[], ys: number[]): number {
  const lx = xs.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const my = ly.reduce((a, b) => a + b, 0) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += ((lx[i] as number) - mx) * ((ly[i] as number) - my);
    den += ((lx[i] as number) - mx) ** 2;
  }
  return num / den;
}

/** Seconds per unit of each step, for the exponents (serve: seconds per token at 4 clients, mixed). */
export const STEP_COSTS: Record<string, (r: ScaleResult) => number> = {
  "plain forward (build texts)": (r) => r.steps.build.plainS,
  build: (r) => r.steps.build.s,
  "detector capture": (r) => r.steps.detector.captureS,
  "detector fit": (r) => r.steps.detector.fitS,
  eval: (r) => r.steps.eval.s,
  likelihood: (r) => r.steps.likelihood.s,
  "serve s/token": (r) => 1 / (r.steps.serve.find((x) => x.clients === 4 && x.mix === "mixed")?.tokensPerS ?? Number.NaN),
  "peak memory": (r) => r.peakRssMiB,
};

export async function scaleBench(opts: {
  cache: string;
  large: boolean;
  detector4096: boolean;
  threads: number;
  log: (s: string) => void;
}): Promise<ScaleBench> {
  mkdirSync(opts.cache, { recursive: true });
  const t0 = performance.now();
  const loadBefore = loadavg();
  const workload = {
    buildPairs: 16,
    detectorPrompts: 80,
    evalPrompts: 4,
    evalTokens: 16,
    likelihoodPairs: 8,
    serveRequests: 1,
    serveTokens: 64,
    threads: opts.threads,
  };
  const rows: ScaleRow[] = [];
  for (const s of [...DEFAULT_SIZES, ...(opts.large ? LARGE_SIZES : [])]) {
    for (const type of FILE_TYPES) {
      const label = `${s.nEmbd}x${s.nLayer} ${type}`;
      const model = await modelFile(opts.cache, s, type, opts.log);
      opts.log(`${label}: build, detector, eval, likelihood, serve`);
      const t = performance.now();
      const r = runWorker<ScaleResult>({ model, ...workload });
      rows.push({ label, ...r, wallS: (performance.now() - t) / 1000 });
    }
  }
  const exponents = Object.entries(STEP_COSTS).flatMap(([step, cost]) =>
    FILE_TYPES.map((fileType) => {
      const rs = rows.filter((r) => r.label.endsWith(` ${fileType}`));
      return {
        step,
        fileType,
        width: growthExponent(
          rs.map((r) => r.nEmbd),
          rs.map(cost),
        ),
        params: growthExponent(
          rs.map((r) => r.nParams),
          rs.map(cost),
        ),
      };
    }),
  );
  let detector4096: ScaleBench["detector4096"];
  if (opts.detector4096) {
    const size = { nEmbd: 4096, nLayer: 2, nHead: 32 };
    const model = await modelFile(opts.cache, size, "F16", opts.log);
    opts.log("4096x2 F16: the detector alone (200 prompts captured, fit on 800 rows)");
    const r = runWorker<DetectorOnlyResult>({ model, ...workload, detectorPrompts: 200, detectorOnly: { fitRows: 800 } });
    detector4096 = { label: "4096x2 F16", ...r };
  }
  return { workload, wallS: (performance.now() - t0) / 1000, loadBefore, loadAfter: loadavg(), rows, exponents, detector4096 };
}

/** The README's table: one row per model and step, and the exponents. */
export function scaleTable(b: ScaleBench): string {
  const f = (x: number, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : "n/a");
  const out = [
    "| model | params | build s (x plain) | detector capture s + fit s (x plain) | eval s (x plain) | likelihood s (x plain) | serve tok/s 1 / 4 clients, mixed (TTFT p50 ms at 4) | peak RSS MiB | row wall s / CPU s |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of b.rows) {
    const st = r.steps;
    const s1 = st.serve.find((x) => x.clients === 1 && x.mix === "mixed");
    const s4 = st.serve.find((x) => x.clients === 4 && x.mix === "mixed");
    out.push(
      `| ${r.label} | ${(r.nParams / 1e6).toFixed(1)}M | ${f(st.build.s, 1)} (${f(st.build.ratio)}) | ${f(st.detector.captureS, 1)} + ${f(st.detector.fitS)} (${f(st.detector.ratio)}) | ${f(st.eval.s, 1)} (${f(st.eval.ratio)}) | ${f(st.likelihood.s, 1)} (${f(st.likelihood.ratio)}) | ${f(s1?.tokensPerS ?? Number.NaN, 1)} / ${f(s4?.tokensPerS ?? Number.NaN, 1)} (${f(s4?.ttftP50Ms ?? Number.NaN, 0)}) | ${f(r.peakRssMiB, 0)} | ${f(r.wallS, 0)} / ${f(r.cpuS, 0)} |`,
    );
  }
  out.push("", "| step | exponent vs width, F16 | Q4_K_M | vs parameters, F16 | Q4_K_M |", "|---|---|---|---|---|");
  for (const step of Object.keys(STEP_COSTS)) {
    const e = (t: string) => b.exponents.find((x) => x.step === step && x.fileType === t);
    out.push(
      `| ${step} | ${f(e("F16")?.width ?? Number.NaN)} | ${f(e("Q4_K_M")?.width ?? Number.NaN)} | ${f(e("F16")?.params ?? Number.NaN)} | ${f(e("Q4_K_M")?.params ?? Number.NaN)} |`,
    );
  }
  const d = b.detector4096;
  if (d) {
    const perLayerCapture = d.captureS / d.nLayer / d.prompts;
    const perLayerFit = d.fitS / d.nLayer;
    out.push(
      "",
      `detector at width ${d.nEmbd} (${d.nLayer} layers): capture of ${d.prompts} prompts (${d.tokens} tokens) ${f(d.captureS, 1)} s; fit on ${d.fitRows} rows ${f(d.fitS, 2)} s (${f(perLayerFit, 2)} s per layer). ` +
        `Scaled to 32 layers and 800 prompts: capture ~${f(perLayerCapture * 32 * 800, 0)} s on this CPU, fit ${f(perLayerFit * 32, 1)} s beyond it (fit / capture ${f(perLayerFit / (perLayerCapture * 800), 3)}).`,
    );
  }
  return out.join("\n");
}
