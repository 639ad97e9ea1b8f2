/** GGUF value types (gguf.h) and the in-memory shapes our reader and writer share. */
export enum GgufType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

/** ggml tensor types we read and write as numbers; others are carried as raw bytes. */
export enum GgmlType {
  F32 = 0,
  F16 = 1,
}

export type GgufScalar = number | bigint | boolean | string;

export type GgufValue =
  | { type: Exclude<GgufType, GgufType.ARRAY>; value: GgufScalar }
  | { type: GgufType.ARRAY; itemType: Exclude<GgufType, GgufType.ARRAY>; value: GgufScalar[] };

export interface GgufTensorInfo {
  name: string;
  /** ggml order: dims[0] is the fastest-varying (row length). */
  dims: number[];
  type: number;
  /** Byte offset from the start of the tensor data section. */
  offset: number;
}

export interface GgufTensorInput {
  name: string;
  dims: number[];
  type: GgmlType;
  data: Float32Array;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Shorthands to build typed metadata values. */
export const gv = {
  u32: (v: number): GgufValue => ({ type: GgufType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufType.INT32, value: v }),
  u64: (v: number | bigint): GgufValue => ({ type: GgufType.UINT64, value: BigInt(v) }),
  f32: (v: number): GgufValue => ({ type: GgufType.FLOAT32, value: v }),
  f64: (v: number): GgufValue => ({ type: GgufType.FLOAT64, value: v }),
  bool: (v: boolean): GgufValue => ({ type: GgufType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufType.STRING, value: v }),
  arr: (itemType: Exclude<GgufType, GgufType.ARRAY>, value: GgufScalar[]): GgufValue => ({
    type: GgufType.ARRAY,
    itemType,
    value,
  }),
};

export function elementCount(dims: number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}
