import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { describe, it } from "node:test";
import type { EngineError } from "../../src/engine/errors.js";
import { floatToHalf, halfToFloat } from "../../src/engine/gguf/half.js";
import { metaNumber, metaString, readGguf, readTensor } from "../../src/engine/gguf/reader.js";
import { GgmlType, GgufType, gv } from "../../src/engine/gguf/types.js";
import { encodeGguf, writeGguf } from "../../src/engine/gguf/writer.js";
import { needsSharedModel, STORIES_GGUF, TINY_RANDOM_GGUF, tmpFile } from "../support/models.js";

describe("GGUF reader and writer", () => {
  it("round-trips every metadata type, F32 and F16 tensors, with a custom alignment", () => {
    const path = tmpFile("roundtrip.gguf");
    const meta = {
      "general.alignment": gv.u32(64),
      u8: { type: GgufType.UINT8, value: 200 },
      i8: { type: GgufType.INT8, value: -5 },
      u16: { type: GgufType.UINT16, value: 60000 },
      i16: { type: GgufType.INT16, value: -30000 },
      u32: gv.u32(4000000000),
      i32: gv.i32(-2000000000),
      f32: gv.f32(1.5),
      bool: gv.bool(true),
      str: gv.str("héllo ▁ wörld"),
      u64: gv.u64(2n ** 60n),
      i64: { type: GgufType.INT64, value: -(2n ** 60n) },
      f64: gv.f64(Math.PI),
      arrStr: gv.arr(GgufType.STRING, ["a", "", "ccc"]),
      arrF32: gv.arr(GgufType.FLOAT32, [0.5, -2]),
    } as const;
    const a = Float32Array.from({ length: 12 }, (_, i) => i * 0.25 - 1);
    const b = Float32Array.from({ length: 5 }, (_, i) => i - 2.5);
    writeGguf(path, meta, [
      { name: "a", dims: [4, 3], type: GgmlType.F32, data: a },
      { name: "b", dims: [5], type: GgmlType.F16, data: b },
    ]);
    const f = readGguf(path);
    assert.equal(f.alignment, 64);
    assert.equal(f.dataOffset % 64, 0);
    for (const [k, v] of Object.entries(meta)) assert.deepEqual(f.metadata.get(k), k === "f32" ? { ...v, value: 1.5 } : v, k);
    assert.deepEqual(
      f.tensors.map((t) => [t.name, t.dims, t.type, t.offset % 64]),
      [
        ["a", [4, 3], 0, 0],
        ["b", [5], 1, 0],
      ],
    );
    assert.deepEqual(readTensor(f, "a"), a);
    assert.deepEqual(readTensor(f, "b"), b);
  });

  it("reads a third-party GGUF (Llama-2 vocabulary, F16 weights)", { skip: needsSharedModel(TINY_RANDOM_GGUF) }, () => {
    const f = readGguf(TINY_RANDOM_GGUF);
    assert.equal(metaString(f, "general.architecture"), "llama");
    assert.equal((f.metadata.get("tokenizer.ggml.tokens")!.value as string[]).length, 32000);
    assert.equal(metaNumber(f, "llama.embedding_length"), 8);
    const out = readTensor(f, "output.weight");
    assert.equal(out.length, 8 * 32000);
    assert.ok(out.every(Number.isFinite));
    // re-encoding what we read gives back the same header bytes
    const tensors = f.tensors.map((t) => ({ name: t.name, dims: t.dims, type: t.type as GgmlType, data: readTensor(f, t.name) }));
    const again = Buffer.concat(encodeGguf(f.metadata, tensors));
    assert.deepEqual(again, readFileSync(TINY_RANDOM_GGUF));
  });

  it("half conversion is exact on representable values and rounds to nearest", () => {
    for (const x of [0, 1, -2, 0.5, 65504, 2 ** -24, 1 / 3]) {
      const h = halfToFloat(floatToHalf(x));
      assert.ok(Math.abs(h - x) <= Math.abs(x) * 2 ** -11, `${x} -> ${h}`);
    }
    assert.equal(halfToFloat(floatToHalf(Infinity)), Infinity);
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(Number.NaN))));
  });

  it("refuses non-GGUF and truncated files with a clear error", () => {
    const notGguf = tmpFile("not.gguf");
    writeFileSync(notGguf, "hello world, this is not a model file at all");
    assert.throws(
      () => readGguf(notGguf),
      (e: EngineError) => e.code === "model_invalid" && /not a GGUF/.test(e.message),
    );
    const trunc = tmpFile("trunc.gguf");
    // the project's own GGUF always, the third-party one too where ../shared/models has it
    for (const model of [STORIES_GGUF, ...(existsSync(TINY_RANDOM_GGUF) ? [TINY_RANDOM_GGUF] : [])]) {
      const bytes = readFileSync(model);
      for (const n of [30, 1000, bytes.length - 100]) {
        writeFileSync(trunc, bytes.subarray(0, n));
        assert.throws(
          () => readGguf(trunc),
          (e: EngineError) => e.code === "model_invalid" && /truncated/.test(e.message),
          `${basename(model)} cut at ${n}`,
        );
      }
    }
  });
});
