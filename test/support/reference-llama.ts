// An independent float64 forward pass of a small llama GGUF, used only by tests to check what
// llama.cpp computes at each site. Written from the architecture, not from llama.cpp's code.
import { metaNumber, readGguf, readTensor } from "../../src/engine/gguf/reader.js";

export interface ReferenceActivations {
  attn_out: Float64Array[][]; // [layer][token] -> width
  resid_mid: Float64Array[][];
  mlp_out: Float64Array[][];
  /** The MLP's hidden activation, silu(gate) * up: width n_ff. */
  mlp_post: Float64Array[][];
  resid_post: Float64Array[][];
  logits: Float64Array[]; // [token] -> vocab
}

export function referenceForward(path: string, tokens: number[]): ReferenceActivations {
  const f = readGguf(path);
  const E = metaNumber(f, "llama.embedding_length") as number;
  const L = metaNumber(f, "llama.block_count") as number;
  const H = metaNumber(f, "llama.attention.head_count") as number;
  const Hkv = metaNumber(f, "llama.attention.head_count_kv") as number;
  const eps = metaNumber(f, "llama.attention.layer_norm_rms_epsilon") as number;
  const base = metaNumber(f, "llama.rope.freq_base") ?? 10000;
  const D = E / H;
  const w = (n: string) => readTensor(f, n);
  const emb = w("token_embd.weight");
  const hasOut = f.tensors.some((t) => t.name === "output.weight");
  const outW = hasOut ? w("output.weight") : emb;
  const V = emb.length / E;
  // y[o] = sum_i W[o*in + i] x[i]   (ggml dims [in, out])
  const matvec = (W: Float32Array, x: Float64Array, inDim: number): Float64Array => {
    const out = new Float64Array(W.length / inDim);
    for (let o = 0; o < out.length; o++) {
      let s = 0;
      for (let i = 0; i < inDim; i++) s += (W[o * inDim + i] as number) * (x[i] as number);
      out[o] = s;
    }
    return out;
  };
  const rmsnorm = (x: Float64Array, g: Float32Array): Float64Array => {
    let ss = 0;
    for (const v of x) ss += v * v;
    const r = 1 / Math.sqrt(ss / x.length + eps);
    return x.map((v, i) => v * r * (g[i] as number));
  };
  const rope = (x: Float64Array, nHeads: number, pos: number): void => {
    for (let h = 0; h < nHeads; h++) {
      for (let i = 0; i < D / 2; i++) {
        const theta = pos * base ** ((-2 * i) / D);
        const a = h * D + 2 * i;
        const x0 = x[a] as number;
        const x1 = x[a + 1] as number;
        x[a] = x0 * Math.cos(theta) - x1 * Math.sin(theta);
        x[a + 1] = x0 * Math.sin(theta) + x1 * Math.cos(theta);
      }
    }
  };
  const T = tokens.length;
  let xs: Float64Array[] = tokens.map((t) => Float64Array.from(emb.subarray(t * E, (t + 1) * E)));
  const res: ReferenceActivations = { attn_out: [], resid_mid: [], mlp_out: [], mlp_post: [], resid_post: [], logits: [] };
  for (let l = 0; l < L; l++) {
    const p = `blk.${l}.`;
    const [an, wq, wk, wv, wo, fn, wg, wd, wu] = [
      "attn_norm",
      "attn_q",
      "attn_k",
      "attn_v",
      "attn_output",
      "ffn_norm",
      "ffn_gate",
      "ffn_down",
      "ffn_up",
    ].map((n) => w(`${p}${n}.weight`)) as Float32Array[];
    const F = (wg as Float32Array).length / E;
    const qs: Float64Array[] = [];
    const ks: Float64Array[] = [];
    const vs: Float64Array[] = [];
    xs.forEach((x, pos) => {
      const h = rmsnorm(x, an as Float32Array);
      const q = matvec(wq as Float32Array, h, E);
      const k = matvec(wk as Float32Array, h, E);
      rope(q, H, pos);
      rope(k, Hkv, pos);
      qs.push(q);
      ks.push(k);
      vs.push(matvec(wv as Float32Array, h, E));
    });
    const attnOut: Float64Array[] = [];
    const mid: Float64Array[] = [];
    const mlp: Float64Array[] = [];
    const hidden: Float64Array[] = [];
    const post: Float64Array[] = [];
    for (let t = 0; t < T; t++) {
      const cat = new Float64Array(E);
      for (let h = 0; h < H; h++) {
        const kvh = Math.floor(h / (H / Hkv));
        const scores = new Float64Array(t + 1);
        for (let s = 0; s <= t; s++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += (qs[t] as Float64Array)[h * D + d]! * (ks[s] as Float64Array)[kvh * D + d]!;
          scores[s] = dot / Math.sqrt(D);
        }
        const m = Math.max(...scores);
        let z = 0;
        for (let s = 0; s <= t; s++) z += Math.exp(scores[s]! - m);
        for (let s = 0; s <= t; s++) {
          const pr = Math.exp(scores[s]! - m) / z;
          for (let d = 0; d < D; d++) cat[h * D + d]! += pr * (vs[s] as Float64Array)[kvh * D + d]!;
        }
      }
      const ao = matvec(wo as Float32Array, cat, E);
      const r1 = (xs[t] as Float64Array).map((v, i) => v + ao[i]!);
      const h2 = rmsnorm(r1, fn as Float32Array);
      const g = matvec(wg as Float32Array, h2, E);
      const u = matvec(wu as Float32Array, h2, E);
      const act = g.map((v, i) => (v / (1 + Math.exp(-v))) * u[i]!);
      const mo = matvec(wd as Float32Array, act, F);
      hidden.push(act);
      attnOut.push(ao);
      mid.push(r1);
      mlp.push(mo);
      post.push(r1.map((v, i) => v + mo[i]!));
    }
    res.attn_out.push(attnOut);
    res.resid_mid.push(mid);
    res.mlp_out.push(mlp);
    res.mlp_post.push(hidden);
    res.resid_post.push(post);
    xs = post;
  }
  const on = w("output_norm.weight");
  res.logits = xs.map((x) => {
    const h = rmsnorm(x, on);
    const out = new Float64Array(V);
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let i = 0; i < E; i++) s += (outW[v * E + i] as number) * (h[i] as number);
      out[v] = s;
    }
    return out;
  });
  return res;
}

/** ||a - b|| / ||b|| */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let n = 0;
  for (let i = 0; i < b.length; i++) {
    d += ((a[i] as number) - (b[i] as number)) ** 2;
    n += (b[i] as number) ** 2;
  }
  return Math.sqrt(d / n);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < b.length; i++) m = Math.max(m, Math.abs((a[i] as number) - (b[i] as number)));
  return m;
}
