// Reference-based quality of an answer: sentence BLEU as sacrebleu's sentence_bleu computes it
// (13a tokenizer, exponential smoothing, effective order, several references) and ROUGE-L F as
// Google's rouge-score computes it (its tokenizer, no stemming; the best reference). No npm
// package reproduces both scores, so they are written out here and tested against the two
// libraries' own published cases (test/eval/reference-metrics.test.ts). Both on a 0-100 scale, as
// the method's papers report them.

/** sacrebleu's tokenizer_13a (mteval-v13a): the language-independent part, then the regexes of tokenizer_re. */
export function tokenize13a(text: string): string[] {
  let line = text
    .replace(/<skipped>/g, "")
    .replace(/-\n/g, "")
    .replace(/\n/g, " ");
  if (line.includes("&"))
    line = line
      .replace(/&quot;/g, '"')
      .replace(/&amp;/g, "&")
      .replace(/&lt;/g, "<")
      .replace(/&gt;/g, ">");
  line = ` ${line} `
    .replace(/([{-~[-` -&(-+:-@/])/g, " $1 ")
    .replace(/([^0-9])([.,])/g, "$1 $2 ")
    .replace(/([.,])([^0-9])/g, " $1 $2")
    .replace(/([0-9])(-)/g, "$1 $2 ");
  return line.split(/\s+/).filter(Boolean);
}

const MAX_ORDER = 4;

function ngramCounts(tokens: string[]): Map<string, number> {
  const out = new Map<string, number>();
  for (let n = 1; n <= MAX_ORDER; n++)
    for (let i = 0; i + n <= tokens.length; i++) {
      const g = `${n}\u0000${tokens.slice(i, i + n).join("\u0000")}`;
      out.set(g, (out.get(g) ?? 0) + 1);
    }
  return out;
}

/** The reference length closest to the hypothesis length; on a tie the shorter (sacrebleu's _get_closest_ref_len). */
function closestRefLength(hypLen: number, refLens: number[]): number {
  let best = -1;
  let bestDiff = -1;
  for (const r of refLens) {
    const d = Math.abs(hypLen - r);
    if (bestDiff === -1 || d < bestDiff || (d === bestDiff && r < best)) {
      best = r;
      bestDiff = d;
    }
  }
  return best;
}

/** BLEU's sufficient statistics: clipped matches and hypothesis n-grams per order, and the two lengths. */
export interface BleuStats {
  correct: number[];
  total: number[];
  sysLen: number;
  refLen: number;
}

/**
 * sacrebleu's statistics for one segment: n-grams up to 4 clipped by their most frequent count in
 * any reference, and the reference length closest to the hypothesis's.
 */
export function bleuStats(hyp: readonly string[], refs: readonly (readonly string[])[]): BleuStats {
  const refMax = new Map<string, number>();
  for (const toks of refs) for (const [g, c] of ngramCounts([...toks])) refMax.set(g, Math.max(refMax.get(g) ?? 0, c));
  const correct = new Array<number>(MAX_ORDER).fill(0);
  const total = new Array<number>(MAX_ORDER).fill(0);
  for (const [g, c] of ngramCounts([...hyp])) {
    const n = Number(g.slice(0, g.indexOf("\u0000"))) - 1;
    correct[n]! += Math.min(c, refMax.get(g) ?? 0);
    total[n]! += c;
  }
  return {
    correct,
    total,
    sysLen: hyp.length,
    refLen: closestRefLength(
      hyp.length,
      refs.map((r) => r.length),
    ),
  };
}

/**
 * sacrebleu's BLEU.compute_bleu with exponential smoothing (mteval's NIST method: the k-th order with
 * no match counts as 1 / 2^k matches) and effective order (orders the hypothesis has no n-gram of
 * are left out). 0-100.
 */
export function bleuFromStats({ correct, total, sysLen, refLen }: BleuStats): number {
  if (!correct.some((c) => c > 0)) return 0;
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  let smooth = 1;
  let order = 0;
  let logSum = 0;
  for (let n = 0; n < MAX_ORDER; n++) {
    if (total[n] === 0) break;
    order = n + 1;
    if (correct[n] === 0) smooth *= 2;
    logSum += Math.log(correct[n] === 0 ? 100 / (smooth * total[n]!) : (100 * correct[n]!) / total[n]!);
  }
  return bp * Math.exp(logSum / order);
}

/** sacrebleu.sentence_bleu(hypothesis, references) with its defaults (13a tokens, case kept, exp smoothing). 0-100. */
export function sentenceBleu(hypothesis: string, references: readonly string[]): number {
  const refs = references.map((r) => tokenize13a(r.trimEnd()));
  return bleuFromStats(bleuStats(tokenize13a(hypothesis.trimEnd()), refs));
}

/** rouge-score's tokenize (no stemmer): lower case, runs of anything but [a-z0-9] become spaces. */
export function tokenizeRouge(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .split(/\s+/)
    .filter((t) => /^[a-z0-9]+$/.test(t));
}

/** Length of the longest common subsequence (the last row of rouge-score's _lcs_table). */
function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const cur = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1]! + 1 : Math.max(prev[j]!, cur[j - 1]!);
    prev = cur;
  }
  return prev[b.length]!;
}

/** ROUGE-L of one prediction against one target, as rouge-score's _score_lcs. Fractions (0-1). */
export function rougeL(target: string, prediction: string): { precision: number; recall: number; fmeasure: number } {
  const t = tokenizeRouge(target);
  const p = tokenizeRouge(prediction);
  if (t.length === 0 || p.length === 0) return { precision: 0, recall: 0, fmeasure: 0 };
  const lcs = lcsLength(t, p);
  const precision = lcs / p.length;
  const recall = lcs / t.length;
  return { precision, recall, fmeasure: precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0 };
}

/** ROUGE-L F of the prediction against its best reference (rouge-score's score_multi), 0-100. */
export function rougeLF(prediction: string, references: readonly string[]): number {
  let best = 0;
  for (const r of references) best = Math.max(best, rougeL(r, prediction).fmeasure);
  return 100 * best;
}

/** Both scores of an answer against its references; null when there are none. */
export function referenceScores(answer: string, references: readonly string[] | undefined): { bleu: number; rougeL: number } | null {
  if (!references?.length) return null;
  return { bleu: sentenceBleu(answer, references), rougeL: rougeLF(answer, references) };
}
