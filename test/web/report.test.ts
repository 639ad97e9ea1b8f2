// The HTML reports in a real browser: real evaluations of the organism (conditional steering for
// detector scores, a strength sweep) written by `safesteer report` and `inspect --html`, opened from
// a file with the network closed: every chart drawn with its data, no console error, no request.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import type { Browser } from "playwright-core";
import type { ReportData } from "../../src/web/report-types.js";
import { dataMarks, launch, noBrowser, screenshot, watchedPage } from "../support/browser.js";
import { ROOT, tmpFile } from "../support/models.js";

const BIN = join(ROOT, "bin", "safesteer.js");
const MODEL = join(ROOT, "models", "organism.gguf");
const BUNDLE = join(ROOT, "reports", "organism", "organism.bundle.gguf");

function cli(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", cwd: ROOT });
  assert.equal(r.status, 0, `safesteer ${args.join(" ")} failed:\n${r.stderr}`);
  return r;
}

/** The report's own data, read back from the page (what the charts were drawn from). */
function embedded(html: string): ReportData {
  const m = /<script id="safesteer-data" type="application\/json">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, "the report carries its data");
  return JSON.parse(m[1] as string) as ReportData;
}

describe("HTML reports in Chromium", { skip: noBrowser() }, () => {
  let browser: Browser;
  const conditional = tmpFile("report-conditional.json");
  const sweep = tmpFile("report-sweep.json");
  const report = tmpFile("report.html");
  const bundlePage = tmpFile("bundle.html");

  before(async () => {
    const data = tmpFile("report-data");
    cli(["organism", "data", "-o", data]);
    const prompts = join(data, "test-prompts.jsonl");
    const common = ["--model", MODEL, "--data", prompts, "--bundle", BUNDLE, "--per-group", "3", "--max-tokens", "24", "--judge", "toy"];
    cli(["eval", ...common, "--steer", "all", "--mode", "conditional", "-o", conditional]);
    cli(["eval", ...common, "--per-group", "2", "--sweep", "strength=0.25,0.75;layer=2,3", "-o", sweep]);
    cli(["report", conditional, sweep, "-o", report, "--title", "Organism: conditional and sweep"]);
    cli(["inspect", BUNDLE, "--html", "-o", bundlePage]);
    browser = await launch();
  });
  after(async () => browser?.close());

  it("draws every chart of two runs with their data, offline, without errors", async () => {
    const html = readFileSync(report, "utf8");
    const data = embedded(html);
    assert.deepEqual(
      data.runs.map((r) => r.name),
      ["report-conditional.json", "report-sweep.json"],
    );
    const w = await watchedPage(browser);
    await w.page.goto(pathToFileURL(report).href);
    await w.page.waitForSelector('.chart[data-chart="cosine"] svg');
    const charts = await w.page.$$eval(".chart", (figs) => figs.map((f) => (f as HTMLElement).dataset.chart));
    for (const name of ["runs", "categories", "benign", "perplexity", "detector", "sweep", "auroc", "margin", "cosine"])
      assert.ok(charts.includes(name), `chart ${name} is in the report (have ${charts.join(", ")})`);

    // the per-category chart: one bar per (run's category, condition, measured metric)
    const run = data.runs[0]?.name;
    const rows = data.metrics.filter((r) => r.run === run && r.group === "harmful" && r.category !== null);
    const measured = rows.reduce(
      (n, r) => n + ["unsafe", "refusal", "helpful", "onTopic", "fluent"].filter((k) => r[k as keyof typeof r] !== null).length,
      0,
    );
    const first = (await w.page.$$eval('.chart[data-chart="categories"]', (f) => f.length)) as number;
    assert.equal(first, 2, "one per-category chart per run");
    const bars = await w.page.$eval('.chart[data-chart="categories"]', (f) => f.querySelectorAll('g[aria-label="bar"] rect').length);
    assert.equal(bars, measured);

    // the sweep: a line per (category, layer, metric), the refusal budget and the chosen points
    const sweepMarks = await dataMarks(w.page, "sweep");
    const sweepRun = data.sweep.filter((p) => p.run === "report-sweep.json");
    const cats = new Set(sweepRun.map((p) => p.category));
    assert.equal(sweepMarks.line, cats.size * 2 * 2, `lines: ${JSON.stringify(sweepMarks)}`);
    assert.ok((sweepMarks.rule ?? 0) >= cats.size, "a refusal budget line per category");
    assert.equal(sweepMarks.dot, data.choices.filter((c) => c.run === "report-sweep.json").length);

    // detector scores: one tick per prompt and category
    const ticks = await dataMarks(w.page, "detector");
    assert.equal(ticks.tick, data.detector.filter((d) => d.run === run).length);
    assert.ok((ticks.tick ?? 0) > 0);

    // the bundle's charts: separability per (category, layer), the cosine heat map
    const cells = await dataMarks(w.page, "cosine");
    assert.equal(cells.cell, data.cosine.length);
    assert.ok(((await dataMarks(w.page, "auroc")).line ?? 0) >= data.bundles[0]!.categories.length);

    // examples: random prompts, each with every condition's answer
    const exampleRows = await w.page.$$eval(".examples tbody tr", (r) => r.length);
    assert.equal(exampleRows, data.examples.length);

    assert.deepEqual(w.errors, []);
    assert.deepEqual(
      w.requests.filter((u) => !u.startsWith("file:")),
      [],
      "a report makes no network request",
    );
    await screenshot(w.page, "report.png");
    await w.page.close();
  });

  it("reads at phone width: nothing but the example tables scrolls sideways", async () => {
    const w = await watchedPage(browser, 390, 844);
    await w.page.goto(pathToFileURL(report).href);
    await w.page.waitForSelector('.chart[data-chart="cosine"] svg');
    const overflow = await w.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the page is ${overflow}px wider than a phone`);
    assert.deepEqual(w.errors, []);
    await w.page.close();
  });

  it("inspect --html draws a bundle on its own", async () => {
    const w = await watchedPage(browser);
    await w.page.goto(pathToFileURL(bundlePage).href);
    await w.page.waitForSelector('.chart[data-chart="cosine"] svg');
    const charts = await w.page.$$eval(".chart", (figs) => figs.map((f) => (f as HTMLElement).dataset.chart));
    assert.deepEqual(charts, ["auroc", "margin", "cosine"]);
    const auroc = await dataMarks(w.page, "auroc");
    assert.ok((auroc.line ?? 0) > 0 && (auroc.dot ?? 0) > 0, JSON.stringify(auroc));
    const rows = await w.page.$$eval("table.summary tbody tr", (r) => r.length);
    assert.equal(rows, embedded(readFileSync(bundlePage, "utf8")).bundles[0]?.categories.length);
    assert.deepEqual(w.errors, []);
    assert.deepEqual(
      w.requests.filter((u) => !u.startsWith("file:")),
      [],
    );
    await screenshot(w.page, "bundle.png", true);
    await w.page.close();
  });
});

describe("safesteer report: bad input", () => {
  it("a file that is not results is a one-line error, exit 2", () => {
    const bad = tmpFile("not-results.json");
    writeFileSync(bad, '{"hello": 1}');
    const r = spawnSync(process.execPath, [BIN, "report", bad, "-o", tmpFile("x.html")], { encoding: "utf8", cwd: ROOT });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^error: not-results\.json is not a SafeSteer results file .*safesteer eval/);
    assert.equal(r.stderr.trim().split("\n").length, 1);
  });
});
