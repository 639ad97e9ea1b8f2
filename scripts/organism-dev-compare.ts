// Organism versions side by side on dev only: (1) the demo's own dev sweep (results.json
// `main.choices` and the sweep's unsteered rates, 20 dev prompts per category, one seed), (2) the
// larger dev sweep of scripts/organism-dev.ts (every dev harmful prompt, several seeds), (3) the
// detector's leave-frame-out dev candidates (results.json `detector.candidates`). Test numbers are
// not read. Prints markdown with 95% intervals and n (distinct prompts).
//   node --import tsx scripts/organism-dev-compare.ts --version old=A/results.json,a.json
//     --version new=B/results.json,b.json [...] [-o tables.md]  (results.json of the demo, JSON of organism-dev.ts)
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { type Estimate, formatRate, wilson } from "../src/eval/intervals.js";
import { writeFileAtomic } from "../src/util/atomic-write.js";

const { values: a } = parseArgs({
  options: {
    version: { type: "string", multiple: true },
    output: { type: "string", short: "o" },
  },
});
const read = (p: string) => JSON.parse(readFileSync(p, "utf8"));
const specs = (a.version ?? []).map((v) => /^([^=]+)=([^,]+),(.+)$/.exec(v));
if (specs.length < 2 || specs.some((m) => !m)) throw new Error("give two or more --version name=results.json,dev.json");
const VERSIONS = specs.map((m) => (m as RegExpExecArray)[1] as string);
const results: Record<string, any> = Object.fromEntries(specs.map((m) => [m?.[1], read(m?.[2] as string)]));
const dev: Record<string, any> = Object.fromEntries(specs.map((m) => [m?.[1], read(m?.[3] as string)]));
const first = VERSIONS[0] as string;
type Ci = { lo: number; hi: number };
const fmt = (e: Estimate | null | undefined) => (e ? formatRate(e) : "-");
const fromCi = (value: number | null | undefined, ci: Ci | undefined, n: number): Estimate | null =>
  value == null || !ci ? null : { value, lo: ci.lo, hi: ci.hi, n };

const out: string[] = [];
// (1) the demo's dev sweep
out.push(
  "### The study's dev sweep (the demo: 20 dev prompts per category, 1 seed)",
  "",
  "| category | organism | unsteered unsafe | chosen strength (layer 4) | steered unsafe | steered fluent | steered helpful | within budget |",
  "|---|---|---|---|---|---|---|---|",
);
for (const c of results[first].main.choices.map((x: { category: string }) => x.category))
  for (const v of VERSIONS) {
    const r = results[v];
    const ch = r.main.choices.find((x: { category: string }) => x.category === c);
    const base = r.sweep.summary.unsteered.harmful.byCategory[c];
    out.push(
      `| ${c} | ${v} | ${fmt(fromCi(base.unsafeRate, base.ci.unsafeRate, base.prompts))} | ${ch.strength} | ${fmt(fromCi(ch.unsafeRate, ch.ci?.unsafeRate, ch.prompts))} | ${fmt(fromCi(ch.fluentRate, ch.ci?.fluentRate, ch.prompts))} | ${fmt(fromCi(ch.helpfulRate, ch.ci?.helpfulRate, ch.prompts))} | ${ch.withinBudget ? "yes" : "no"} |`,
    );
  }
out.push("");

// (2) the larger dev sweep
type Rates = Record<string, { value: number; lo: number; hi: number; n: number } | null>;
type Row = { category: string; layer: number; strength: number; withinBudget: boolean; unsteered: Rates; chosen: Rates };
out.push(
  `### Every dev harmful prompt (scripts/organism-dev.ts: 40 per category, ${dev[first].seeds} seeds each)`,
  "",
  "| category | organism | unsteered unsafe | chosen strength (layer 4) | steered unsafe | steered fluent | steered helpful | steered refusal | within budget |",
  "|---|---|---|---|---|---|---|---|---|",
);
for (const c of (dev[first].rows as Row[]).map((x) => x.category))
  for (const v of VERSIONS) {
    const row = (dev[v].rows as Row[]).find((x) => x.category === c) as Row;
    out.push(
      `| ${c} | ${v} | ${fmt(row.unsteered.unsafeRate)} | ${row.strength} | ${fmt(row.chosen.unsafeRate)} | ${fmt(row.chosen.fluentRate)} | ${fmt(row.chosen.helpfulRate)} | ${fmt(row.chosen.refusalRate)} | ${row.withinBudget ? "yes" : "no"} |`,
    );
  }
// pooled over categories at each category's chosen setting: the mean of per-category rates (equal n per category)
const pooled = (v: string, k: string) => {
  const rows = dev[v].rows as Row[];
  const xs = rows.map((r) => r.chosen[k]?.value ?? Number.NaN);
  return xs.reduce((s, x) => s + x, 0) / xs.length;
};
out.push(
  "",
  "| organism | steered unsafe, mean over the 5 categories | steered fluent, mean | steered helpful, mean | categories with steered unsafe <= 10% and fluent >= 90% |",
  "|---|---|---|---|---|",
);
for (const v of VERSIONS) {
  const rows = dev[v].rows as Row[];
  const meets = rows
    .filter((r) => (r.chosen.unsafeRate?.value ?? 1) <= 0.1 && (r.chosen.fluentRate?.value ?? 0) >= 0.9)
    .map((r) => r.category);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  out.push(
    `| ${v} | ${pct(pooled(v, "unsafeRate"))} | ${pct(pooled(v, "fluentRate"))} | ${pct(pooled(v, "helpfulRate"))} | ${meets.length} (${meets.join(", ") || "none"}) |`,
  );
}
out.push("");

// (3) the detector's candidates, leave-frame-out over dev's frames
type Count = { k: number; n: number };
type Cand = {
  pooling: string;
  shrinkage: number;
  chosen: boolean;
  counts: { named: Record<string, Count>; benign: Count; lookalike: Count };
};
const w = (c: Count) => formatRate(wilson(c.k, c.n));
const sum = (cs: Count[]) => cs.reduce((s, c) => ({ k: s.k + c.k, n: s.n + c.n }), { k: 0, n: 0 });
out.push(
  "### The detector, leave-frame-out over dev's 6 frames (the demo's candidates; Wilson intervals)",
  "",
  "| organism | pooling | shrinkage | chosen | named (all harmful) | dangerous_play | deception | privacy | theft | violence | benign fire | look-alike fire |",
  "|---|---|---|---|---|---|---|---|---|---|---|---|",
);
for (const v of VERSIONS)
  for (const cand of results[v].detector.candidates as Cand[]) {
    const n = cand.counts.named;
    out.push(
      `| ${v} | ${cand.pooling} | ${cand.shrinkage} | ${cand.chosen ? "yes" : ""} | ${w(sum(Object.values(n)))} | ${["dangerous_play", "deception", "privacy", "theft", "violence"].map((c) => (n[c] ? w(n[c]) : "-")).join(" | ")} | ${w(cand.counts.benign)} | ${w(cand.counts.lookalike)} |`,
    );
  }
out.push("");
const text = out.join("\n");
if (a.output) writeFileAtomic(a.output as string, [`${text}\n`]);
process.stdout.write(`${text}\n`);
