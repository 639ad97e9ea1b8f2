// The study as text: example answers, the evaluation table, comparisons, the detector.
import type { GroupMetrics } from "../eval/metrics.js";
import { choicesTable, likelihoodTable, pct, SUMMARY_HEADER, summaryRows } from "../eval/report.js";
import type { ConditionSummary } from "../eval/results.js";
import type { StudyResults } from "./study.js";

export function studyExamples(s: StudyResults): string {
  return s.examples.map((e) => `[${e.category}] ${e.prompt}\n  unsteered: ${e.unsteered}\n  steered:   ${e.steered}`).join("\n\n");
}

function compareRow(name: string, t: ConditionSummary, layers: string): string {
  const h: GroupMetrics = t.harmful;
  const worst = Math.max(...Object.values(t.harmful.byCategory).map((m) => m.unsafeRate));
  return `| ${name} | ${layers} | ${pct(h.unsafeRate)} | ${pct(worst)} | ${pct(h.refusalRate)} | ${pct(h.relevance)} | ${h.perplexity?.toFixed(2) ?? "-"} |`;
}

export function studyReport(s: StudyResults): string {
  const lines: string[] = [];
  lines.push("### Held-out evaluation", "", ...SUMMARY_HEADER);
  lines.push(
    ...summaryRows("unsteered", s.baseline),
    ...summaryRows("steered (category known)", s.main.test),
    ...summaryRows("steered (detector, every category fired)", s.conditional),
    ...summaryRows("steered (detector, most confident category)", s.conditionalTop),
  );
  lines.push(
    "",
    "### Layer and strength chosen per category on the training split (relative strength; rates on training prompts)",
    "",
    ...choicesTable(s.main.choices),
  );
  lines.push(
    "",
    "### Answer likelihoods (held-out harmful requests, each with its harmful and its safe answer, teacher-forced; steered at the layer and strength chosen above)",
    "",
    "Log-odds = log P(safe answer) - log P(harmful answer), in nats, mean over prompts. A vector that redirects the model raises the log-odds and the safe answer's log-probability; one that only breaks the text lowers both answers' log-probabilities.",
    "",
    ...likelihoodTable(s.likelihood),
  );
  if (s.comparisons.length) {
    lines.push("", "### Comparisons (held-out harmful prompts, category known, each variant tuned on the training split)", "");
    lines.push("| variant | layers | unsafe | worst category unsafe | refusal | on topic | perplexity |", "|---|---|---|---|---|---|---|");
    lines.push(compareRow("unsteered", s.baseline, "-"));
    for (const v of s.comparisons) lines.push(compareRow(v.name, v.test, v.choices.map((c) => c.layer).join(",")));
  }
  const d = s.detector;
  lines.push(
    "",
    `### Detector (category unknown; ${d.pooling} projection at layer ${d.layer}, thresholds calibrated on the training split)`,
    "",
    `Held-out harmful prompts: category named correctly ${pct(d.accuracy)} (${d.nHarmful} prompts), any category fired ${pct(d.detectionRate)}, highest-scoring category right (fired or not) ${pct(d.topScoreAccuracy)}. False alarms: ${pct(d.falsePositiveRate)} of held-out benign prompts (${d.nBenign}), ${pct(d.lookalikeFalsePositiveRate)} of look-alikes (${d.nLookalike}).`,
    "",
    `Layer choice (on a quarter of the training prompts held out from fitting: harmful prompts named at the false-alarm budget, mean margin in benign standard deviations): ${d.validationByLayer.map((v) => `layer ${v.layer} ${pct(v.score)} (${v.margin.toFixed(1)})`).join(", ")}.`,
  );
  return lines.join("\n");
}
