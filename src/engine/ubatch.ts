// How llama.cpp cuts one decode's batch into micro-batches (ubatches), each computed as a graph of its
// own: the rows of an activation tensor are one ubatch's tokens, in its order, which is not always
// the batch's. A K/V cache with one stream per sequence (kv_unified = false, as llama-server runs)
// takes llama_batch_allocr::split_equal with sequential ids: each ubatch holds sequences of consecutive
// ids, as many tokens of each, sequence by sequence. A unified cache takes split_simple: rows in batch
// order, n_ubatch at a time. Mirrors src/llama-batch.cpp of the pinned llama.cpp for its K/V caches
// (not recurrent or hybrid memories, which split otherwise): hooks and captures check each tensor's
// row count against it, and write hooks the number of graphs, so most changes there are errors; a
// reordering that kept both would not be (the scheduler tests compare answers with those served alone).

/** llama.cpp's split for a context's memory: "simple" (unified K/V cache), "equal" (a stream per sequence). */
export type UbatchSplit = "simple" | "equal";

/** The batch rows of each ubatch, in the order its tensors hold them. */
export function splitUbatches(seqIds: ArrayLike<number>, nUbatch: number, split: UbatchSplit): number[][] {
  const n = seqIds.length;
  const out: number[][] = [];
  if (split === "simple") {
    for (let start = 0; start < n; start += nUbatch) out.push(range(start, Math.min(start + nUbatch, n)));
    return out;
  }
  // each sequence's rows in batch order (one sequence per row: our batches never share a token)
  const rowsOf = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const s = seqIds[i] as number;
    const list = rowsOf.get(s);
    if (list) list.push(i);
    else rowsOf.set(s, [i]);
  }
  const used = new Uint8Array(n);
  const next = new Map<number, number>(); // per sequence: how many of its rows are used
  let nUsed = 0;
  while (nUsed < n) {
    // the sequences of this ubatch: by first unused row, each id one more than the last
    const seqs: number[] = [];
    for (let i = 0; i < n; i++) {
      if (used[i]) continue;
      const s = seqIds[i] as number;
      if (seqs.includes(s) || (seqs.length > 0 && s !== (seqs[seqs.length - 1] as number) + 1)) continue;
      seqs.push(s);
      if (seqs.length > nUbatch) break;
    }
    const per: number[][] = seqs.map(() => []);
    // as many tokens of each, while every sequence has one more and the ubatch has room
    while (seqs.every((s) => (next.get(s) ?? 0) < (rowsOf.get(s) as number[]).length)) {
      for (const [k, s] of seqs.entries()) {
        const at = next.get(s) ?? 0;
        const row = (rowsOf.get(s) as number[])[at] as number;
        (per[k] as number[]).push(row);
        used[row] = 1;
        nUsed++;
        next.set(s, at + 1);
      }
      if (((per[0] as number[]).length + 1) * seqs.length > nUbatch) break;
    }
    out.push(per.flat());
  }
  return out;
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}
