// The server bench's models: the embedded organism with its committed bundle, and a random
// llama-architecture model of about 1B parameters (2048 wide, 20 layers, Q4_K_M), written, quantized
// and given a bundle of the organism's categories once into the bench cache (random weights: the
// vectors steer nothing meaningful, but cost what real ones cost: same count, layers and width).
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { syntheticVocab, writeRandomLlamaGguf } from "../src/convert/random-model.js";
import { loadDataset } from "../src/data/load.js";
import { Context } from "../src/engine/context.js";
import { Model } from "../src/engine/model.js";
import { quantizeModel } from "../src/engine/quantize.js";
import { writeOrganismFiles } from "../src/organism/files.js";
import { buildBundle } from "../src/steer/build.js";
import { writeBundle } from "../src/steer/bundle.js";

export interface ServedModel {
  label: string;
  model: string;
  /** Served under the name "organism" (the requests' policies name its categories). */
  bundle: string;
  nParams: number;
  fileType: string;
  /**
   * Tokens llama-server must not sample (logit_bias false): on a random model, end-of-generation (so
   * both sides run to max_tokens) and the byte tokens 0x80-0xFF, whose random sequences are malformed
   * UTF-8 that llama-server's output parser (run on every endpoint) answers with HTTP 500 ("does not
   * match the expected Content-only format").
   */
  peerBans: number[];
}

function facts(path: string): { nParams: number; fileType: string } {
  const m = Model.load(path);
  try {
    return { nParams: m.info.nParams, fileType: m.info.fileType };
  } finally {
    m.dispose();
  }
}

export function organismModel(root: string): ServedModel {
  const model = join(root, "models", "organism.gguf");
  return { label: "organism", model, bundle: join(root, "reports", "organism", "organism.bundle.gguf"), peerBans: [], ...facts(model) };
}

const BIG = { nEmbd: 2048, nLayer: 20, nHead: 16, nVocab: 8192 };

/** A bundle of the organism's categories built on `model` from 8 pairs each, every layer a candidate. */
async function organismBundle(model: string, out: string, threads: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "safesteer-server-bench-"));
  const m = Model.load(model, { threads });
  const ctx = new Context(m, { nCtx: 2048, nSeq: 8 });
  try {
    const pairs = loadDataset(writeOrganismFiles(dir).vectors);
    const per = new Map<string, number>();
    const examples = pairs.examples.filter((e) => {
      const k = `${e.category}:${e.label}`;
      per.set(k, (per.get(k) ?? 0) + 1);
      return (per.get(k) ?? 0) <= 8;
    });
    writeBundle(out, await buildBundle(ctx, [{ ...pairs, examples }], undefined, { layers: "auto", chat: "auto", onWarning: () => {} }));
  } finally {
    ctx.dispose();
    m.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The ~1B random llama model (Q4_K_M) and its bundle, made once into `cache`. */
export async function randomBillionModel(cache: string, threads: number, log: (s: string) => void): Promise<ServedModel> {
  mkdirSync(cache, { recursive: true });
  const stem = join(cache, `server-${BIG.nEmbd}x${BIG.nLayer}-v${BIG.nVocab}`);
  const f16 = `${stem}-f16.gguf`;
  const q = `${stem}-q4_k_m.gguf`;
  if (!existsSync(q)) {
    if (!existsSync(f16)) {
      log(`writing a random ${BIG.nEmbd}-wide, ${BIG.nLayer}-layer llama model, F16 (once)`);
      writeRandomLlamaGguf(f16, { ...BIG, type: "f16", seed: 1 });
    }
    log("quantizing it to Q4_K_M (once)");
    await quantizeModel(f16, q, { type: "Q4_K_M" });
  }
  const bundle = `${stem}-q4_k_m.bundle.gguf`;
  if (!existsSync(bundle)) {
    log("building a bundle of the organism's categories on it (once)");
    await organismBundle(q, bundle, threads);
  }
  const vocab = syntheticVocab(BIG.nVocab);
  const bytes = vocab.tokens.flatMap((t, id) => (/^<0x[89A-F][0-9A-F]>$/.test(t) ? [id] : []));
  return { label: `random llama ${BIG.nEmbd}x${BIG.nLayer}`, model: q, bundle, peerBans: [vocab.eos, ...bytes], ...facts(q) };
}
