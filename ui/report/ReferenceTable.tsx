// BLEU and ROUGE-L F against the items' references, per condition and group, with 95% intervals and
// each steered condition minus unsteered on the same prompts. Shown only where the items had references.
import type { IntervalValue, MetricRow, RunData } from "../../src/web/report-types.js";

const fmt = (e: IntervalValue | null | undefined, signed = false) => {
  if (!e || e.n === 0 || Number.isNaN(e.value)) return "—";
  const f = (x: number) => (signed && x >= 0 ? "+" : "") + x.toFixed(1);
  return `${f(e.value)} [${f(e.lo)}, ${f(e.hi)}]`;
};

export function ReferenceTable({ run, metrics }: { run: RunData; metrics: MetricRow[] }) {
  const rows = metrics.filter((r) => r.run === run.name && r.reference);
  if (!rows.length) return null;
  return (
    <figure class="reference">
      <figcaption>
        <strong>Reference-based quality.</strong> Sentence BLEU and ROUGE-L F (0-100) of the answers against the items' reference answers:
        mean [95% interval], and steered minus {run.baseline} on the same prompts.
      </figcaption>
      <table class="summary">
        <thead>
          <tr>
            <th scope="col">condition</th>
            <th scope="col">prompts</th>
            <th scope="col">n</th>
            <th scope="col">BLEU</th>
            <th scope="col">ROUGE-L F</th>
            <th scope="col">BLEU minus {run.baseline}</th>
            <th scope="col">ROUGE-L minus {run.baseline}</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr key={`${r.condition}/${r.group}/${r.category ?? ""}`}>
              <th scope="row">{r.condition}</th>
              <td>{r.category ? `${r.group}: ${r.category}` : r.group}</td>
              <td>{r.reference!.bleu.n}</td>
              <td>{fmt(r.reference!.bleu)}</td>
              <td>{fmt(r.reference!.rougeL)}</td>
              <td>{fmt(r.reference!.bleuDelta, true)}</td>
              <td>{fmt(r.reference!.rougeLDelta, true)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
