// Every architecture of `safesteer convert random --arch`: the file loads through llama.cpp, every site
// is captured (and the captures add up as the residual stream does), resid_post steers through the
// native control vector, the other sites through write hooks (or fail with an error naming the site),
// and the family's real chat template renders into the family's own special tokens. Each claim is a
// measured number; the numbers are printed.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ARCHITECTURE_NAMES, ARCHITECTURES, type ArchName } from "../../src/convert/architectures.js";
import { randomShape, writeRandomGguf } from "../../src/convert/random-model.js";
import { Context } from "../../src/engine/context.js";
import type { EngineError } from "../../src/engine/errors.js";
import { metaNumber, metaString, readTensor } from "../../src/engine/gguf/reader.js";
import { type ChatMessage, Model } from "../../src/engine/model.js";
import { KNOWN_SITES, type KnownSite } from "../../src/engine/sites.js";
import { renderExample } from "../../src/steer/render.js";
import { Rng } from "../../src/util/random.js";
import { cliFromSource as cli } from "../support/cli.js";
import { ROOT, tmpFile } from "../support/models.js";
import { maxAbsDiff } from "../support/reference-llama.js";
import { steeringSwitch } from "../support/steering.js";

const TEMPLATES = join(ROOT, "test", "fixtures", "chat-templates");

interface Case {
  arch: ArchName;
  nLayer: number;
  /** Tensors that make the family what it is (present), and ones it must not have (absent). */
  tensors: string[];
  absent?: string[];
  meta?: Record<string, number | string>;
  /** A conversation, its exact rendering by the family's template, and the turn markers that must be single tokens. */
  chat?: { messages: ChatMessage[]; text: string; markers: string[]; endOfTurn: string };
  /** Sites whose write hooks this architecture's graph cannot take (llama.cpp leaves the tensor unnamed). */
  noWrite?: KnownSite[];
}

const SYS_HI: ChatMessage[] = [
  { role: "system", content: "Be kind." },
  { role: "user", content: "Hi" },
];

const CASES: Case[] = [
  { arch: "llama", nLayer: 4, tensors: ["output.weight", "blk.0.attn_q.weight", "blk.0.ffn_gate.weight"], absent: ["rope_freqs.weight"] },
  {
    arch: "llama3",
    nLayer: 4,
    tensors: ["rope_freqs.weight", "blk.3.attn_k.weight"],
    meta: { "llama.rope.freq_base": 500000, "llama.attention.head_count_kv": 1 },
    chat: {
      messages: SYS_HI,
      text:
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n" +
        "Be kind.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
      markers: ["<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>"],
      endOfTurn: "<|eot_id|>",
    },
  },
  {
    arch: "mistral3",
    nLayer: 4,
    tensors: ["blk.0.attn_q.weight"],
    meta: { "mistral3.rope.scaling.type": "yarn", "mistral3.attention.temperature_scale": 0.1 },
    chat: {
      messages: SYS_HI,
      text: "<s>[SYSTEM_PROMPT]Be kind.[/SYSTEM_PROMPT][INST]Hi[/INST]",
      markers: ["[SYSTEM_PROMPT]", "[INST]", "[/INST]"],
      endOfTurn: "</s>",
    },
  },
  {
    arch: "qwen2",
    nLayer: 4,
    tensors: ["blk.0.attn_q.bias", "blk.0.attn_k.bias", "blk.0.attn_v.bias"],
    absent: ["output.weight"],
    meta: { "qwen2.rope.freq_base": 1000000, "qwen2.attention.head_count_kv": 2 },
    chat: {
      messages: SYS_HI,
      text: "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
      markers: ["<|im_start|>"],
      endOfTurn: "<|im_end|>",
    },
  },
  {
    arch: "qwen3",
    nLayer: 4,
    tensors: ["blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight"],
    absent: ["output.weight", "blk.0.attn_q.bias"],
    meta: { "qwen3.attention.key_length": 32 },
    chat: {
      messages: [{ role: "user", content: "Hi" }],
      text: "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
      markers: ["<|im_start|>"],
      endOfTurn: "<|im_end|>",
    },
  },
  {
    arch: "gemma2",
    nLayer: 4,
    tensors: ["blk.0.post_attention_norm.weight", "blk.0.post_ffw_norm.weight"],
    absent: ["output.weight"],
    meta: { "gemma2.attn_logit_softcapping": 50, "gemma2.final_logit_softcapping": 30, "gemma2.attention.sliding_window": 4096 },
    chat: {
      messages: [{ role: "user", content: "Hi" }],
      text: "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
      markers: ["<bos>", "<start_of_turn>"],
      endOfTurn: "<end_of_turn>",
    },
  },
  {
    // six layers: five sliding-window layers, then a global one, as Gemma 3 interleaves them
    arch: "gemma3",
    nLayer: 6,
    tensors: ["blk.0.attn_q_norm.weight", "blk.5.post_attention_norm.weight", "blk.5.post_ffw_norm.weight"],
    absent: ["output.weight"],
    meta: { "gemma3.attention.sliding_window": 512, "gemma3.attention.sliding_window_pattern": 6, "gemma3.rope.freq_base_swa": 10000 },
    chat: {
      messages: SYS_HI,
      text: "<bos><start_of_turn>user\nBe kind.\n\nHi<end_of_turn>\n<start_of_turn>model\n",
      markers: ["<bos>", "<start_of_turn>"],
      endOfTurn: "<end_of_turn>",
    },
  },
  {
    arch: "phi3",
    nLayer: 4,
    tensors: ["blk.0.attn_qkv.weight", "blk.0.ffn_up.weight", "output.weight"],
    absent: ["blk.0.attn_q.weight", "blk.0.ffn_gate.weight"],
    meta: { "phi3.attention.sliding_window": 2047 },
    chat: {
      messages: SYS_HI,
      text: "<|system|>\nBe kind.<|end|>\n<|user|>\nHi<|end|>\n<|assistant|>\n",
      markers: ["<|user|>", "<|assistant|>"],
      endOfTurn: "<|end|>",
    },
    // phi3 adds the attention output to the residual stream without naming either tensor
    noWrite: ["resid_mid", "attn_out"],
  },
];

/** Largest |(after - before) - v| over rows, relative to the activations' scale. */
function shiftError(after: Float32Array[], before: Float32Array[], v: Float32Array): number {
  let worst = 0;
  let scale = 1;
  after.forEach((row, t) => {
    const b = before[t] as Float32Array;
    for (let i = 0; i < v.length; i++) {
      worst = Math.max(worst, Math.abs((row[i] as number) - (b[i] as number) - (v[i] as number)));
      scale = Math.max(scale, Math.abs(b[i] as number));
    }
  });
  return worst / scale;
}

for (const c of CASES) {
  describe(`${c.arch}: ${ARCHITECTURES[c.arch].like}`, () => {
    let model: Model;
    let ctx: Context;
    let steering: ReturnType<typeof steeringSwitch>;
    let tokens: number[];
    let v: Float32Array;
    const L = 2;
    const spec = { arch: c.arch, nEmbd: 64, nLayer: c.nLayer, nHead: 4, seed: 7 };
    const layers = Array.from({ length: c.nLayer }, (_, i) => i);
    const capture = async (site: KnownSite, ls = layers) =>
      ctx.evaluate([tokens], { capture: { site, layers: ls, reduce: "none" }, logits: "last" });

    before(() => {
      const path = tmpFile(`arch-${c.arch}.gguf`);
      const template = c.chat ? readFileSync(join(TEMPLATES, `${c.arch}.jinja`), "utf8") : undefined;
      writeRandomGguf(path, { ...spec, chatTemplate: template });
      model = Model.load(path);
      ctx = new Context(model, { nCtx: 256, exact: true });
      steering = steeringSwitch(ctx);
      tokens = model.tokenize("the cat sat on a mat and looked at the sun");
      const rng = new Rng(3);
      v = Float32Array.from({ length: 64 }, () => rng.normal() * 0.5);
    });
    after(() => {
      ctx?.dispose();
      model?.dispose();
    });

    it("loads through llama.cpp with the family's tensors, shapes and metadata", () => {
      const shape = randomShape(spec);
      assert.equal(model.info.architecture, ARCHITECTURES[c.arch].gguf);
      assert.equal(model.info.nLayer, c.nLayer);
      assert.equal(model.info.nHeadKv, shape.nHeadKv, "grouped-query attention as the family has it");
      const names = new Set(model.gguf.tensors.map((t) => t.name));
      for (const t of c.tensors) assert.ok(names.has(t), `${t} is written`);
      for (const t of c.absent ?? []) assert.ok(!names.has(t), `${t} is not written`);
      for (const [k, want] of Object.entries(c.meta ?? {})) {
        const got = typeof want === "string" ? metaString(model.gguf, k) : metaNumber(model.gguf, k);
        assert.ok(typeof want === "string" ? got === want : Math.abs((got as number) - want) < 1e-6, `${k} = ${got}, expected ${want}`);
      }
    });

    it("captures every site at every layer, and the captures add up as the residual stream does", async () => {
      const rows = {} as Record<KnownSite, Float32Array[][]>;
      for (const site of KNOWN_SITES) {
        const { capture: cap } = await capture(site);
        rows[site] = layers.map((l) => cap!.rows(0, l));
        for (const l of layers) assert.equal(rows[site][l]!.length, tokens.length, `${site} layer ${l}: one row per token`);
      }
      // resid_mid(L) = resid_post(L-1) + attn_out(L); resid_post(L) = resid_mid(L) + mlp_out(L)
      let mid = 0;
      let post = 0;
      for (const l of layers) {
        tokens.forEach((_, t) => {
          const row = (s: KnownSite, layer = l) => rows[s][layer]![t]!;
          const sum = (a: Float32Array, b: Float32Array) => a.map((x, i) => x + b[i]!);
          post = Math.max(
            post,
            maxAbsDiff(row("resid_post"), sum(row("resid_mid"), row("mlp_out"))) / Math.max(1, ...row("resid_post").map(Math.abs)),
          );
          if (l > 0)
            mid = Math.max(
              mid,
              maxAbsDiff(row("resid_mid"), sum(row("resid_post", l - 1), row("attn_out"))) / Math.max(1, ...row("resid_mid").map(Math.abs)),
            );
        });
      }
      console.log(
        `  ${c.arch}: |resid_mid - (resid_pre + attn_out)| ${mid.toExponential(1)}, |resid_post - (resid_mid + mlp_out)| ${post.toExponential(1)} (relative)`,
      );
      assert.ok(mid < 1e-5 && post < 1e-5, `sites do not add up: ${mid}, ${post}`);
    });

    it("steers resid_post with llama.cpp's control vector: resid_post moves by exactly v and the logits move", async () => {
      assert.equal(await model.supportsControlVectors(), true);
      const plain = await capture("resid_post", [L - 1, L]);
      const plan = await steering.set([{ site: "resid_post", layer: L, vector: v }]);
      const steered = await capture("resid_post", [L - 1, L]);
      steering.clear();
      assert.deepEqual(plan.nativeLayers, [L], "native control vector, no hook");
      assert.deepEqual(steered.capture!.rows(0, L - 1), plain.capture!.rows(0, L - 1), "the layer before is untouched");
      const err = shiftError(steered.capture!.rows(0, L), plain.capture!.rows(0, L), v);
      const change = maxAbsDiff(steered.logits[0]![0]!, plain.logits[0]![0]!);
      console.log(`  ${c.arch} resid_post (native): shift error ${err.toExponential(1)}, max logit change ${change.toFixed(3)}`);
      assert.ok(err < 1e-5, `resid_post moved by v up to ${err}`);
      assert.ok(change > 1e-3, `logits changed by ${change}`);
    });

    it("captures mlp_post (width n_ff) at every layer, and the MLP's output is exactly W_down . mlp_post", async () => {
      const nFf = model.info.nFf;
      assert.equal(nFf, randomShape(spec).nFf);
      const post = (await capture("mlp_post")).capture!;
      // ffn_out-L is the down projection's output (before Gemma's post-norm); where no post-norm follows it is mlp_out
      const down = (await ctx.evaluate([tokens], { capture: { site: "ffn_out", layers, reduce: "none" }, logits: "none" })).capture!;
      const out = c.arch.startsWith("gemma") ? undefined : (await capture("mlp_out")).capture!;
      let worst = 0;
      for (const l of layers) {
        const w = readTensor(model.gguf, `blk.${l}.ffn_down.weight`); // ne0 = n_ff: row j of W_down is w[j*nFf ..]
        post.rows(0, l).forEach((h, t) => {
          assert.equal(h.length, nFf);
          const y = Float32Array.from({ length: 64 }, (_, j) => {
            let s = 0;
            for (let i = 0; i < nFf; i++) s += w[j * nFf + i]! * h[i]!;
            return s;
          });
          const scale = Math.max(1, ...y.map(Math.abs));
          worst = Math.max(worst, maxAbsDiff(down.rows(0, l)[t]!, y) / scale);
          if (out) worst = Math.max(worst, maxAbsDiff(out.rows(0, l)[t]!, y) / scale);
        });
      }
      console.log(`  ${c.arch}: |mlp_out - W_down . mlp_post| ${worst.toExponential(1)} (relative, n_ff ${nFf})`);
      assert.ok(worst < 1e-5, `W_down . mlp_post differs from the MLP's output by ${worst}`);
    });

    it("writes mlp_post through a write hook: adding u moves it by exactly u and the logits move; scale 0 ablates units", async () => {
      const nFf = model.info.nFf;
      const rng = new Rng(5);
      const u = Float32Array.from({ length: nFf }, () => rng.normal() * 0.5);
      const plain = await capture("mlp_post", [L]);
      const plan = await steering.set([{ site: "mlp_post", layer: L, vector: u }]);
      const added = await capture("mlp_post", [L]);
      steering.clear();
      assert.deepEqual(plan.hookLayers, [{ site: "mlp_post", layer: L }]);
      const err = shiftError(added.capture!.rows(0, L), plain.capture!.rows(0, L), u);
      const change = maxAbsDiff(added.logits[0]![0]!, plain.logits[0]![0]!);
      // ablate the first half of the units, set unit 1 to 3: x -> scale * x + vector
      const scale = Float32Array.from({ length: nFf }, (_, i) => (i < nFf / 2 ? 0 : 1));
      const set = Float32Array.from({ length: nFf }, (_, i) => (i === 1 ? 3 : 0));
      await steering.set([{ site: "mlp_post", layer: L, vector: set, scale }]);
      const ablated = await capture("mlp_post", [L]);
      steering.clear();
      let wrong = 0;
      ablated.capture!.rows(0, L).forEach((row, t) => {
        const before = plain.capture!.rows(0, L)[t]!;
        for (let i = 0; i < nFf; i++) wrong = Math.max(wrong, Math.abs(row[i]! - (i === 1 ? 3 : i < nFf / 2 ? 0 : before[i]!)));
      });
      console.log(
        `  ${c.arch} mlp_post (hook): shift error ${err.toExponential(1)}, ablation error ${wrong}, max logit change ${change.toFixed(3)}`,
      );
      assert.ok(err < 1e-5, `mlp_post moved by u up to ${err}`);
      assert.equal(wrong, 0, "scaled units are exactly scale * x + vector");
      assert.ok(change > 1e-3, `logits changed by ${change}`);
    });

    for (const site of ["resid_mid", "attn_out", "mlp_out"] as const) {
      if (c.noWrite?.includes(site)) {
        it(`refuses to steer ${site} (unnamed in this graph) with an error naming the site, rather than do nothing`, async () => {
          await steering.set([{ site, layer: L, vector: v }]);
          await assert.rejects(ctx.evaluate([tokens]), (e: EngineError) => {
            console.log(`  ${c.arch} ${site}: ${e.message.slice(0, 100)}...`);
            return e.code === "bad_site" && e.message.includes(`${site} at layer ${L}`);
          });
          steering.clear();
        });
        continue;
      }
      // attn_out and resid_mid both land in resid_mid; mlp_out lands in resid_post
      const lands: KnownSite = site === "mlp_out" ? "resid_post" : "resid_mid";
      it(`steers ${site} through a write hook: ${lands} moves by exactly v and the logits move`, async () => {
        const plain = await capture(lands, [L]);
        const plan = await steering.set([{ site, layer: L, vector: v }]);
        const steered = await capture(lands, [L]);
        steering.clear();
        assert.deepEqual(plan.hookLayers, [{ site, layer: L }]);
        const err = shiftError(steered.capture!.rows(0, L), plain.capture!.rows(0, L), v);
        const change = maxAbsDiff(steered.logits[0]![0]!, plain.logits[0]![0]!);
        console.log(`  ${c.arch} ${site} (hook): ${lands} shift error ${err.toExponential(1)}, max logit change ${change.toFixed(3)}`);
        assert.ok(err < 1e-5, `${lands} moved by v up to ${err}`);
        assert.ok(change > 1e-3, `logits changed by ${change}`);
      });
    }

    const chat = c.chat;
    if (chat) {
      it("renders the family's real chat template into its own special tokens", () => {
        assert.equal(model.applyChatTemplate(chat.messages), chat.text);
        const ids = renderExample(model, { prompt: "Hi" }, true);
        const one = (text: string) => model.tokenize(text, { addSpecial: false, parseSpecial: true });
        for (const m of chat.markers) {
          const t = one(m);
          assert.equal(t.length, 1, `${m} is one token`);
          assert.ok(ids.includes(t[0]!), `${m} is in the rendered prompt's tokens`);
        }
        const eot = one(chat.endOfTurn);
        assert.equal(eot.length, 1);
        assert.ok(model.isEndOfGeneration(eot[0]!), `${chat.endOfTurn} ends generation`);
      });
    }
  });
}

describe("the writer", () => {
  it("is deterministic from the seed, for every architecture", () => {
    let n = 0;
    for (const arch of ARCHITECTURE_NAMES) {
      const write = (seed: number) => {
        const p = tmpFile(`seeded-${arch}-${n++}.gguf`);
        writeRandomGguf(p, { arch, nEmbd: 32, nLayer: 1, nHead: 2, nVocab: 300, seed });
        return readFileSync(p);
      };
      const a = write(5);
      assert.ok(a.equals(write(5)), `${arch}: same seed, same bytes`);
      assert.ok(!a.equals(write(6)), `${arch}: another seed, other weights`);
    }
  });
});

describe("the CLI", () => {
  it("convert random --arch writes the family with its template; info measures every site", () => {
    const out = tmpFile("cli-qwen3.gguf");
    const w = cli(["convert", "random", "--arch", "qwen3", "--layers", "3", "--chat-template", join(TEMPLATES, "qwen3.jinja"), "-o", out]);
    assert.equal(w.status, 0, w.stderr);
    const r = cli(["info", out, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.architecture, "qwen3");
    assert.match(j.chatTemplate, /<\|im_start\|>/);
    assert.deepEqual(
      j.sites.map((s: { site: string; capture: { ok: boolean }; steer: { ok: boolean; via: string } }) => [
        s.site,
        s.capture.ok,
        s.steer.ok,
        s.steer.via,
      ]),
      [
        ["resid_post", true, true, "native"],
        ["resid_mid", true, true, "hook"],
        ["attn_out", true, true, "hook"],
        ["mlp_out", true, true, "hook"],
        ["mlp_post", true, true, "hook"],
      ],
    );
    const bad = cli(["convert", "random", "--arch", "gemma2", "--heads", "3", "-o", tmpFile("cli-bad.gguf")]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /head size/);
  });
});
