import { writeFileAtomic } from "../../util/atomic-write.js";
import { EngineError } from "../errors.js";
import { floatToHalf } from "./half.js";
import {
  elementCount,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgmlType,
  type GgufScalar,
  type GgufTensorInput,
  GgufType,
  type GgufValue,
} from "./types.js";

/** Grows a byte buffer as values are appended. */
class Sink {
  buf = Buffer.alloc(1 << 16);
  len = 0;
  private room(n: number): number {
    if (this.len + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + n));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    const o = this.len;
    this.len += n;
    return o;
  }
  u8 = (v: number) => {
    const o = this.room(1);
    this.buf.writeUInt8(v, o);
  };
  i8 = (v: number) => {
    const o = this.room(1);
    this.buf.writeInt8(v, o);
  };
  u16 = (v: number) => {
    const o = this.room(2);
    this.buf.writeUInt16LE(v, o);
  };
  i16 = (v: number) => {
    const o = this.room(2);
    this.buf.writeInt16LE(v, o);
  };
  u32 = (v: number) => {
    const o = this.room(4);
    this.buf.writeUInt32LE(v, o);
  };
  i32 = (v: number) => {
    const o = this.room(4);
    this.buf.writeInt32LE(v, o);
  };
  f32 = (v: number) => {
    const o = this.room(4);
    this.buf.writeFloatLE(v, o);
  };
  f64 = (v: number) => {
    const o = this.room(8);
    this.buf.writeDoubleLE(v, o);
  };
  u64 = (v: bigint | number) => {
    const o = this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), o);
  };
  i64 = (v: bigint | number) => {
    const o = this.room(8);
    this.buf.writeBigInt64LE(BigInt(v), o);
  };
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    const o = this.room(b.length);
    b.copy(this.buf, o);
  }
  pad(alignment: number): void {
    const n = (alignment - (this.len % alignment)) % alignment;
    this.room(n);
  }
}

function writeScalar(s: Sink, type: GgufType, v: GgufScalar): void {
  const w: Partial<Record<GgufType, () => void>> = {
    [GgufType.UINT8]: () => s.u8(Number(v)),
    [GgufType.INT8]: () => s.i8(Number(v)),
    [GgufType.UINT16]: () => s.u16(Number(v)),
    [GgufType.INT16]: () => s.i16(Number(v)),
    [GgufType.UINT32]: () => s.u32(Number(v)),
    [GgufType.INT32]: () => s.i32(Number(v)),
    [GgufType.FLOAT32]: () => s.f32(Number(v)),
    [GgufType.BOOL]: () => s.u8(v ? 1 : 0),
    [GgufType.STRING]: () => s.str(String(v)),
    [GgufType.UINT64]: () => s.u64(BigInt(v as number | bigint)),
    [GgufType.INT64]: () => s.i64(BigInt(v as number | bigint)),
    [GgufType.FLOAT64]: () => s.f64(Number(v)),
  };
  const f = w[type];
  if (!f) throw new EngineError("bad_argument", `cannot write GGUF value type ${type}`);
  f();
}

function tensorBytes(t: GgufTensorInput): Buffer {
  const n = elementCount(t.dims);
  if (t.data.length !== n) {
    throw new EngineError("bad_argument", `tensor ${t.name}: ${t.data.length} values for dims [${t.dims}] (${n} expected).`);
  }
  if (t.type === GgmlType.F32) return Buffer.from(t.data.buffer, t.data.byteOffset, n * 4);
  const h = new Uint16Array(n);
  for (let i = 0; i < n; i++) h[i] = floatToHalf(t.data[i] as number);
  return Buffer.from(h.buffer);
}

/** Serialises metadata and tensors to GGUF v3 bytes. */
export function encodeGguf(metadata: Map<string, GgufValue> | Record<string, GgufValue>, tensors: GgufTensorInput[]): Buffer[] {
  const entries = metadata instanceof Map ? [...metadata.entries()] : Object.entries(metadata);
  const alignEntry = entries.find(([k]) => k === "general.alignment");
  const alignment = alignEntry ? Number(alignEntry[1].value) : GGUF_DEFAULT_ALIGNMENT;
  const s = new Sink();
  s.u32(GGUF_MAGIC);
  s.u32(3);
  s.u64(tensors.length);
  s.u64(entries.length);
  for (const [key, v] of entries) {
    s.str(key);
    s.u32(v.type);
    if (v.type === GgufType.ARRAY) {
      s.u32(v.itemType);
      s.u64(v.value.length);
      for (const item of v.value) writeScalar(s, v.itemType, item);
    } else {
      writeScalar(s, v.type, v.value);
    }
  }
  const blobs = tensors.map(tensorBytes);
  let offset = 0;
  tensors.forEach((t, i) => {
    s.str(t.name);
    s.u32(t.dims.length);
    for (const d of t.dims) s.u64(d);
    s.u32(t.type);
    s.u64(offset);
    offset += Math.ceil((blobs[i] as Buffer).length / alignment) * alignment;
  });
  s.pad(alignment);
  const out: Buffer[] = [s.buf.subarray(0, s.len)];
  for (const b of blobs) {
    out.push(b);
    const pad = (alignment - (b.length % alignment)) % alignment;
    if (pad) out.push(Buffer.alloc(pad));
  }
  return out;
}

/** Writes a GGUF file atomically: a temporary file in the same folder, fsync, rename. */
export function writeGguf(path: string, metadata: Map<string, GgufValue> | Record<string, GgufValue>, tensors: GgufTensorInput[]): void {
  writeFileAtomic(path, encodeGguf(metadata, tensors));
}
