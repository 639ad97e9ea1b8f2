import { closeSync, existsSync, fstatSync, openSync, readSync, statSync } from "node:fs";
import { EngineError } from "../errors.js";
import { halfToFloat } from "./half.js";
import {
  elementCount,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgmlType,
  type GgufScalar,
  type GgufTensorInfo,
  GgufType,
  type GgufValue,
} from "./types.js";

export interface GgufFile {
  path: string;
  version: number;
  metadata: Map<string, GgufValue>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute byte offset of the tensor data section. */
  dataOffset: number;
  fileSize: number;
}

const TYPE_SIZE: Record<number, number> = { 0: 4, 1: 2 }; // bytes per element for F32, F16

/** Reads the file through a growing window so that huge model files are never read whole. */
class Cursor {
  private buf = Buffer.alloc(0);
  private base = 0;
  pos = 0;
  constructor(
    private readonly fd: number,
    private readonly size: number,
    private readonly path: string,
  ) {}

  private need(n: number): void {
    const end = this.pos + n;
    if (end > this.size) {
      throw new EngineError(
        "model_invalid",
        `${this.path} is truncated or corrupt: GGUF header needs byte ${end} but the file has ${this.size} bytes. Re-download or re-create the file.`,
      );
    }
    if (end <= this.base + this.buf.length && this.pos >= this.base) return;
    const want = Math.min(this.size - this.pos, Math.max(n, 1 << 20));
    this.buf = Buffer.alloc(want);
    readSync(this.fd, this.buf, 0, want, this.pos);
    this.base = this.pos;
  }
  private at(n: number): number {
    this.need(n);
    const o = this.pos - this.base;
    this.pos += n;
    return o;
  }
  u8 = () => {
    const o = this.at(1);
    return this.buf.readUInt8(o);
  };
  i8 = () => {
    const o = this.at(1);
    return this.buf.readInt8(o);
  };
  u16 = () => {
    const o = this.at(2);
    return this.buf.readUInt16LE(o);
  };
  i16 = () => {
    const o = this.at(2);
    return this.buf.readInt16LE(o);
  };
  u32 = () => {
    const o = this.at(4);
    return this.buf.readUInt32LE(o);
  };
  i32 = () => {
    const o = this.at(4);
    return this.buf.readInt32LE(o);
  };
  f32 = () => {
    const o = this.at(4);
    return this.buf.readFloatLE(o);
  };
  f64 = () => {
    const o = this.at(8);
    return this.buf.readDoubleLE(o);
  };
  u64 = () => {
    const o = this.at(8);
    return this.buf.readBigUInt64LE(o);
  };
  i64 = () => {
    const o = this.at(8);
    return this.buf.readBigInt64LE(o);
  };
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  count(what: string): number {
    const v = this.u64();
    if (v > BigInt(this.size)) {
      throw new EngineError(
        "model_invalid",
        `${this.path} is truncated or corrupt: ${what} ${v} exceeds the file size ${this.size}. Re-download or re-create it.`,
      );
    }
    return Number(v);
  }
  str(): string {
    const n = this.count("string length");
    const o = this.at(n);
    return this.buf.toString("utf8", o, o + n);
  }
}

function readScalar(c: Cursor, type: GgufType): GgufScalar {
  switch (type) {
    case GgufType.UINT8:
      return c.u8();
    case GgufType.INT8:
      return c.i8();
    case GgufType.UINT16:
      return c.u16();
    case GgufType.INT16:
      return c.i16();
    case GgufType.UINT32:
      return c.u32();
    case GgufType.INT32:
      return c.i32();
    case GgufType.FLOAT32:
      return c.f32();
    case GgufType.BOOL:
      return c.u8() !== 0;
    case GgufType.STRING:
      return c.str();
    case GgufType.UINT64:
      return c.u64();
    case GgufType.INT64:
      return c.i64();
    case GgufType.FLOAT64:
      return c.f64();
    default:
      throw new EngineError("model_invalid", `unknown GGUF value type ${type}`);
  }
}

/** What a GGUF file is read as, so that an error's advice fits it. */
export type GgufRole = "model" | "bundle" | "control vector";

const MAKE: Record<GgufRole, string> = {
  model: "convert a checkpoint to GGUF first, e.g. `safesteer convert llama2c` for llama2.c checkpoints",
  bundle: "build one with `safesteer build` (or `safesteer import` for control vectors)",
  "control vector": "export one with `safesteer export`, or make one with llama.cpp or repeng",
};

/** Parses a GGUF header: metadata and tensor directory, not the tensor data. */
export function readGguf(path: string, role: GgufRole = "model"): GgufFile {
  if (!existsSync(path)) {
    throw new EngineError("model_not_found", `File not found: ${path}. Check the path (to make a ${role}: ${MAKE[role]}).`);
  }
  if (!statSync(path).isFile()) throw new EngineError("model_invalid", `${path} is not a file.`);
  const fd = openSync(path, "r");
  try {
    const size = fstatSync(fd).size;
    const c = new Cursor(fd, size, path);
    if (size < 24 || c.u32() !== GGUF_MAGIC) {
      throw new EngineError("model_invalid", `${path} is not a GGUF file (no "GGUF" magic), so it cannot be a ${role}: ${MAKE[role]}.`);
    }
    const version = c.u32();
    if (version < 2 || version > 3) {
      throw new EngineError("model_invalid", `${path}: GGUF version ${version} is not supported (2 or 3 expected).`);
    }
    const nTensors = c.count("tensor count");
    const nKv = c.count("metadata count");
    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < nKv; i++) {
      const key = c.str();
      const type = c.u32() as GgufType;
      if (type === GgufType.ARRAY) {
        const itemType = c.u32() as Exclude<GgufType, GgufType.ARRAY>;
        const n = c.count(`length of array ${key}`);
        const value: GgufScalar[] = new Array(n);
        for (let j = 0; j < n; j++) value[j] = readScalar(c, itemType);
        metadata.set(key, { type, itemType, value });
      } else {
        metadata.set(key, { type, value: readScalar(c, type) } as GgufValue);
      }
    }
    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < nTensors; i++) {
      const name = c.str();
      const nd = c.u32();
      if (nd > 4) throw new EngineError("model_invalid", `${path}: tensor ${name} has ${nd} dimensions (max 4).`);
      const dims: number[] = [];
      for (let d = 0; d < nd; d++) dims.push(c.count(`dimension of ${name}`));
      const type = c.u32();
      const offset = c.count(`offset of ${name}`);
      tensors.push({ name, dims, type, offset });
    }
    const al = metadata.get("general.alignment");
    const alignment = al ? Number(al.value) : GGUF_DEFAULT_ALIGNMENT;
    const dataOffset = Math.ceil(c.pos / alignment) * alignment;
    for (const t of tensors) {
      const bytes = TYPE_SIZE[t.type] ? elementCount(t.dims) * (TYPE_SIZE[t.type] as number) : 0;
      if (dataOffset + t.offset + bytes > size) {
        throw new EngineError(
          "model_invalid",
          `${path} is truncated: tensor ${t.name} ends at byte ${dataOffset + t.offset + bytes} but the file has ${size} bytes. Re-download or re-create it.`,
        );
      }
    }
    const last = tensors.reduce((m, t) => Math.max(m, dataOffset + t.offset), 0);
    if (tensors.length > 0 && last >= size) {
      throw new EngineError("model_invalid", `${path} is truncated: tensor data is missing. Re-download or re-create it.`);
    }
    return { path, version, metadata, tensors, alignment, dataOffset, fileSize: size };
  } finally {
    closeSync(fd);
  }
}

/** Reads one F32 or F16 tensor as float32 values. */
export function readTensor(file: GgufFile, name: string): Float32Array {
  const t = file.tensors.find((x) => x.name === name);
  if (!t) throw new EngineError("model_invalid", `${file.path} has no tensor named ${name}.`);
  const n = elementCount(t.dims);
  const fd = openSync(file.path, "r");
  try {
    if (t.type === GgmlType.F32) {
      const out = new Float32Array(n);
      readSync(fd, new Uint8Array(out.buffer), 0, n * 4, file.dataOffset + t.offset);
      return out;
    }
    if (t.type === GgmlType.F16) {
      const raw = new Uint16Array(n);
      readSync(fd, new Uint8Array(raw.buffer), 0, n * 2, file.dataOffset + t.offset);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(raw[i] as number);
      return out;
    }
    throw new EngineError("model_invalid", `tensor ${name} has ggml type ${t.type}; only F32 and F16 can be read as numbers.`);
  } finally {
    closeSync(fd);
  }
}

/** Convenience accessors for metadata. */
export function metaString(file: GgufFile, key: string): string | undefined {
  const v = file.metadata.get(key);
  return v && v.type === GgufType.STRING ? (v.value as string) : undefined;
}

export function metaNumber(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  if (!v || v.type === GgufType.ARRAY || v.type === GgufType.STRING) return undefined;
  return Number(v.value);
}
