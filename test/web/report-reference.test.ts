// Reference-based quality end to end: the organism's held-out prompts with references (each harmful
// prompt's safe answer from test-pairs.jsonl, in the generic format's "reference" field), a real
// `safesteer eval` unsteered and steered, then `safesteer report` opened in Chromium: the table
// shows what results.json holds.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import type { EvalResults } from "../../src/eval/results.js";
import type { ReportData } from "../../src/web/report-types.js";
import { launch, noBrowser, watchedPage } from "../support/browser.js";
import { ROOT, tmpFile } from "../support/models.js";

const BIN = join(ROOT, "bin", "safesteer.js");

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT });
  assert.equal(r.status, 0, `safesteer ${args.join(" ")} failed:\n${r.stderr}`);
  return r;
}

const lines = (p: string) =>
  readFileSync(p, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe("reference-based quality: eval and the HTML report", { skip: noBrowser() }, () => {
  let browser: Browser;
  const results = tmpFile("report-reference.json");
  const report = tmpFile("report-reference.html");
  let stdout = "";

  before(async () => {
    const data = tmpFile("report-reference-data");
    cli(["organism", "data", "-o", data]);
    const refs = new Map<string, string[]>();
    for (const r of lines(join(data, "test-pairs.jsonl")))
      if (r.label === "safe") refs.set(r.prompt as string, [...(refs.get(r.prompt as string) ?? []), r.response as string]);
    const withRefs = join(data, "test-prompts-refs.jsonl");
    const rows = lines(join(data, "test-prompts.jsonl")).map((r) =>
      refs.has(r.prompt as string) ? { ...r, reference: refs.get(r.prompt as string) } : r,
    );
    writeFileSync(withRefs, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    stdout = cli([
      "eval",
      "--model",
      join(ROOT, "models", "organism.gguf"),
      "--data",
      withRefs,
      "--bundle",
      join(ROOT, "reports", "organism", "organism.bundle.gguf"),
      "--steer",
      "all",
      "--per-group",
      "2",
      "--max-tokens",
      "24",
      "--judge",
      "toy",
      "-o",
      results,
    ]).stdout;
    cli(["report", results, "-o", report]);
    browser = await launch();
  });
  after(async () => browser?.close());

  it("results.json: per answer, per group and steered minus unsteered; the Markdown table", () => {
    const r = JSON.parse(readFileSync(results, "utf8")) as EvalResults;
    const harmful = r.answers.filter((a) => r.items[a.index]!.kind === "harmful");
    assert.ok(harmful.length > 0 && harmful.every((a) => typeof a.bleu === "number" && typeof a.rougeL === "number"));
    assert.ok(r.answers.filter((a) => r.items[a.index]!.kind !== "harmful").every((a) => a.bleu === null));
    const steered = r.summary.steered!;
    assert.equal(steered.harmful.reference!.bleu.n, r.summary.unsteered!.harmful.n);
    const d = steered.referenceDelta!.harmful!;
    const mean = (c: string) => harmful.filter((a) => a.condition === c).reduce((s, a) => s + a.rougeL!, 0) / d.rougeL.n;
    assert.ok(Math.abs(d.rougeL.value - (mean("steered") - mean("unsteered"))) < 1e-9);
    assert.match(stdout, /\| steered \| harmful \(all\) \| \d+ \| [\d.]+ \[[\d.]+, [\d.]+\] n=\d+ \|/);
  });

  it("the HTML report's table holds the same rows, offline, without errors", async () => {
    const html = readFileSync(report, "utf8");
    const m = /<script id="safesteer-data" type="application\/json">([\s\S]*?)<\/script>/.exec(html);
    const data = JSON.parse(m![1] as string) as ReportData;
    const withRef = data.metrics.filter((r) => r.reference);
    assert.ok(withRef.length > 0);
    const w = await watchedPage(browser);
    await w.page.goto(pathToFileURL(report).href);
    await w.page.waitForSelector("figure.reference table");
    const cells = await w.page.$$eval("figure.reference tbody tr", (trs) =>
      trs.map((tr) => [...tr.querySelectorAll("th, td")].map((c) => c.textContent ?? "")),
    );
    assert.equal(cells.length, withRef.length);
    const first = withRef.find((r) => r.condition === "steered" && r.category === null)!;
    const row = cells.find((c) => c[0] === "steered" && c[1] === "harmful")!;
    assert.equal(
      row[3],
      `${first.reference!.bleu.value.toFixed(1)} [${first.reference!.bleu.lo.toFixed(1)}, ${first.reference!.bleu.hi.toFixed(1)}]`,
    );
    assert.match(row[5]!, /^[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]$/);
    assert.deepEqual(w.errors, []);
    assert.deepEqual(
      w.requests.filter((u) => !u.startsWith("file:")),
      [],
    );
    await w.page.close();
  });
});
