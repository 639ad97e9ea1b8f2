// Quantized copies through llama.cpp's own quantizer, and whether vectors built on the full-precision
// model steer them (the README reports these numbers).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Context } from "../../src/engine/context.js";
import { generate } from "../../src/engine/generate.js";
import { Model } from "../../src/engine/model.js";
import { fileTypeName, quantizeModel } from "../../src/engine/quantize.js";
import { quantizeDefaults } from "../../src/native/llama.js";
import { withSteering } from "../../src/steer/apply.js";
import { buildBundle } from "../../src/steer/build.js";
import { cosine } from "../../src/steer/math.js";
import type { Bundle } from "../../src/steer/types.js";
import { ROOT, randomModel, STORIES_GGUF, tmpFile } from "../support/models.js";
import { dogShare, TOPIC_DATA } from "../support/topic.js";

describe("quantized models", () => {
  let full: Bundle;
  before(async () => {
    const model = Model.load(STORIES_GGUF);
    const ctx = new Context(model, { nCtx: 2048, nSeq: 8 });
    full = await buildBundle(ctx, [TOPIC_DATA], undefined, { layers: [2], prune: 0.5 });
    ctx.dispose();
    model.dispose();
  });
  after(() => {});

  it("the quantize parameters' layout matches llama.cpp (its defaults, read back through our struct)", () => {
    const d = quantizeDefaults();
    // src/llama-quant.cpp: nthread 0, ftype Q8_0 (7), allow_requantize false, quantize_output_tensor true, pointers null
    assert.equal(d.nthread, 0);
    assert.equal(d.ftype, 7);
    assert.equal(d.allow_requantize, false);
    assert.equal(d.quantize_output_tensor, true);
    assert.equal(d.only_copy, false);
    assert.equal(d.imatrix, null);
  });

  for (const type of ["F16", "Q8_0", "Q4_0"] as const) {
    it(`${type}: a smaller file that loads and records its type; F32 vectors steer it (--force), and vectors built on it point the same way`, async () => {
      const out = tmpFile(`stories-${type}.gguf`);
      const { bytes } = await quantizeModel(STORIES_GGUF, out, { type, threads: 1 });
      assert.equal(fileTypeName(out), type);
      const model = Model.load(out);
      assert.equal(model.info.fileType, type);
      assert.ok(bytes < 1054336, `${bytes} bytes`);
      const ctx = new Context(model, { nCtx: 2048, nSeq: 8 });
      const own = await buildBundle(ctx, [TOPIC_DATA], undefined, { layers: [2], prune: 0.5 });
      assert.equal(own.model.fileType, type, "the bundle records the quantization it was built on");
      const cos = cosine(full.categories.get("generic")!.vectors.get(2)!, own.categories.get("generic")!.vectors.get(2)!);
      await assert.rejects(
        withSteering(ctx, { bundle: full, policy: { generic: 0.6 } }, async () => 0),
        /F32.*--force/,
      );
      const plain = await dogShare(ctx);
      const steered = await withSteering(ctx, { bundle: full, policy: { generic: 0.6 }, force: true }, () => dogShare(ctx));
      console.log(
        `  ${type}: ${bytes} bytes; cosine(F32 vector, ${type} vector) at layer 2 = ${cos.toFixed(4)}; dog share unsteered ${(plain.share * 100).toFixed(1)}%, steered with the F32 bundle ${(steered.share * 100).toFixed(1)}%`,
      );
      assert.ok(cos > 0.9, `cosine ${cos}`);
      assert.ok(steered.share >= plain.share + 0.3, `steered ${steered.share} vs unsteered ${plain.share}`);
      ctx.dispose();
      model.dispose();
    });
  }

  it("Q4_K_M on a model whose width fits its 256-wide blocks: loads and generates", async () => {
    const src = randomModel({ nEmbd: 256, nLayer: 2, nHead: 4, nVocab: 512, type: "f16" });
    const out = tmpFile("random-q4km.gguf");
    await quantizeModel(src, out, { type: "Q4_K_M", threads: 1 });
    assert.equal(fileTypeName(out), "Q4_K_M");
    const model = Model.load(out);
    const ctx = new Context(model, { nCtx: 128 });
    const r = await generate(ctx, [1, 5, 9], { maxTokens: 8, temperature: 0 });
    assert.equal(r.tokens.length, 8);
    ctx.dispose();
    model.dispose();
  });

  it("a missing input or an unknown type is a clear error, and no output is left", async () => {
    const out = tmpFile("never.gguf");
    await assert.rejects(quantizeModel("/no/such.gguf", out, { type: "Q8_0" }), /File not found: \/no\/such\.gguf/);
    await assert.rejects(quantizeModel(STORIES_GGUF, out, { type: "Q3_X" as "Q8_0" }), /unknown quantization type "Q3_X"/);
  });
});

describe("safesteer quantize and Ctrl-C", () => {
  it("a SIGINT while quantizing removes the temporary file, says so, and exits 130", async () => {
    // ~30M parameters: Q4_K_M on one thread takes seconds, so the signal comes while it runs
    const src = randomModel({ nEmbd: 512, nLayer: 8, nHead: 8, nVocab: 4000, type: "f16", seed: 3 });
    const dir = mkdtempSync(join(tmpdir(), "safesteer-quantize-"));
    try {
      const out = join(dir, "q.gguf");
      const child = spawn(
        process.execPath,
        [join(ROOT, "bin", "safesteer.js"), "quantize", src, "--type", "Q4_K_M", "--threads", "1", "-o", out],
        {
          stdio: ["ignore", "ignore", "pipe"],
        },
      );
      let stderr = "";
      child.stderr.on("data", (d) => {
        stderr += d;
      });
      const exited = new Promise<number | string | null>((resolve) => child.on("exit", (code, sig) => resolve(code ?? sig)));
      // the quantizer has opened its temporary output: it is writing now
      while (!readdirSync(dir).some((f) => f.endsWith(".quantize.tmp"))) {
        assert.equal(child.exitCode, null, `quantize ended before it wrote anything: ${stderr}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      child.kill("SIGINT");
      assert.equal(await exited, 130, stderr);
      assert.match(
        stderr,
        /stopped: quantizing was interrupted; the partial file \.\d+\.\d+\.quantize\.tmp was removed and nothing was written/,
      );
      assert.deepEqual(readdirSync(dir), [], "no temporary file and no output are left");
      assert.equal(existsSync(out), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
