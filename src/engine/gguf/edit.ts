// Rewrites a GGUF with changed metadata or tensors (e.g. add a chat template, untie an output head).
import { readGguf, readTensor } from "./reader.js";
import type { GgmlType, GgufTensorInput, GgufValue } from "./types.js";
import { writeGguf } from "./writer.js";

export interface GgufEdit {
  setMetadata?: Record<string, GgufValue>;
  /** Tensors to add (or replace, by name), given the file's existing tensors. */
  addTensors?: (read: (name: string) => Float32Array) => GgufTensorInput[];
}

export function editGguf(input: string, output: string, edit: GgufEdit): void {
  const f = readGguf(input);
  const metadata = new Map(f.metadata);
  for (const [k, v] of Object.entries(edit.setMetadata ?? {})) metadata.set(k, v);
  const read = (name: string) => readTensor(f, name);
  const added = edit.addTensors?.(read) ?? [];
  const tensors: GgufTensorInput[] = f.tensors
    .filter((t) => !added.some((a) => a.name === t.name))
    .map((t) => ({ name: t.name, dims: t.dims, type: t.type as GgmlType, data: read(t.name) }));
  writeGguf(output, metadata, [...tensors, ...added]);
}
