// The HTML reports in a real browser: real evaluations of the organism (conditional steering for
// detector scores, a strength sweep) written by `safesteer report` and `inspect --html`, opened from
// a file with the network closed: every chart drawn with its data, no console error, no request.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import type { Browser, Page } from "playwright-core";
import type { ReportData } from "../../src/web/report-types.js";
import { dataMarks, launch, noBrowser, screenshot, watchedPage } from "../support/browser.js";
import { CATQA_FIXTURE, HARMLESS_FIXTURE } from "../support/fixtures.js";
import { ROOT, STORIES_GGUF, tmpFile } from "../support/models.js";

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

    // the bundle's charts: separability per (category, layer), the cosine heat map at each steered layer
    const cells = await dataMarks(w.page, "cosine");
    const steered = new Set(data.bundles[0]?.categories.map((c) => c.layer));
    assert.equal(cells.cell, data.cosine.filter((c) => steered.has(c.layer)).length);
    assert.ok((cells.cell ?? 0) > 0);
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

  it("opens the committed organism report offline and draws its rates with error bars", async () => {
    // the demo's own report (reports/organism), as a reader gets it; its screenshot is the README's
    const page = join(ROOT, "reports", "organism", "report.html");
    const data = embedded(readFileSync(page, "utf8"));
    const w = await watchedPage(browser);
    await w.page.goto(pathToFileURL(page).href);
    await w.page.waitForSelector(".chart svg");
    const charts = await w.page.$$eval(".chart", (figs) => figs.map((f) => (f as HTMLElement).dataset.chart));
    assert.ok(charts.length >= 3, `charts drawn: ${charts.join(", ")}`);
    const intervals = await w.page.$$eval(".chart g.interval line", (l) => l.length);
    assert.ok(intervals > 0, "rates carry error bars");
    assert.equal(await w.page.$$eval(".examples tbody tr", (r) => r.length), data.examples.length);
    assert.deepEqual(w.errors, []);
    assert.deepEqual(
      w.requests.filter((u) => !u.startsWith("file:")),
      [],
    );
    await screenshot(w.page, "organism-report.png");
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

/**
 * Layout checks in the page: every text of a chart inside its SVG (no label cut), no two x labels
 * of one axis overlapping, every data mark inside its SVG (an axis holds every point).
 */
async function layoutProblems(page: Page, chart: string): Promise<string[]> {
  // plain JavaScript: tsx would wrap named functions of a TypeScript callback in a helper the page lacks
  return page.evaluate(LAYOUT_CHECK.replace("CHART", JSON.stringify(chart))) as Promise<string[]>;
}

const LAYOUT_CHECK = `(() => {
  const name = CHART;
  const problems = [];
  for (const fig of document.querySelectorAll('.chart[data-chart="' + name + '"]'))
    for (const svg of fig.querySelectorAll("svg")) {
      const box = svg.getBoundingClientRect();
      function inside(r) { return r.left >= box.left - 1 && r.right <= box.right + 1 && r.top >= box.top - 1 && r.bottom <= box.bottom + 1; }
      for (const t of svg.querySelectorAll("text"))
        if (t.textContent && !inside(t.getBoundingClientRect())) problems.push(name + ': text "' + t.textContent + '" is cut');
      for (const g of svg.querySelectorAll('g[aria-label="dot"] circle, g[aria-label="line"] path, g[aria-label="bar"] rect, g.interval line'))
        if (!inside(g.getBoundingClientRect())) problems.push(name + ": a " + g.tagName + " lies outside the chart");
      for (const axis of svg.querySelectorAll('g[aria-label="x-axis tick label"], g[aria-label="fx-axis tick label"]')) {
        const r = [...axis.querySelectorAll("text")].map((t) => t.getBoundingClientRect());
        for (let i = 0; i < r.length; i++)
          for (let k = i + 1; k < r.length; k++)
            if (r[i].left < r[k].right - 1 && r[k].left < r[i].right - 1 && r[i].top < r[k].bottom - 1 && r[k].top < r[i].bottom - 1)
              problems.push(name + ": x labels " + r[i].x + " and " + r[k].x + " overlap");
      }
    }
  return problems;
})()`;

describe("HTML reports with 12 categories (CatQA's fixture subcategories) on a real model", { skip: noBrowser() }, () => {
  let browser: Browser;
  const dir = tmpFile("report-12");
  const report = join(dir, "report.html");
  const bundlePage = join(dir, "bundle.html");
  const bundle = join(dir, "b.gguf");
  const cats = Object.values(CATQA_FIXTURE)
    .flatMap((sub) => Object.entries(sub))
    .slice(0, 12);

  before(async () => {
    mkdirSync(dir, { recursive: true });
    const data = join(dir, "catqa12.jsonl");
    const rows = [
      ...cats.flatMap(([name, qs]) => qs.slice(0, 6).map((prompt) => ({ prompt, category: name }))),
      ...HARMLESS_FIXTURE.slice(0, 24).map((prompt) => ({ prompt, label: "safe" })),
    ];
    writeFileSync(data, `${rows.map((r) => JSON.stringify(r)).join("\n")}\n`);
    cli(["build", "-m", STORIES_GGUF, "--data", data, "--layers", "auto", "-o", bundle]);
    const common = ["--model", STORIES_GGUF, "--data", data, "--bundle", bundle, "--max-tokens", "8", "--judge", "refusal-keywords"];
    cli(["eval", ...common, "--per-group", "3", "--seeds", "2", "--steer", "all", "-o", join(dir, "steered.json")]);
    cli(["eval", ...common, "--per-group", "2", "--sweep", "strength=0.5,1", "-o", join(dir, "sweep.json")]);
    cli(["report", join(dir, "steered.json"), join(dir, "sweep.json"), "--bundle", bundle, "-o", report]);
    cli(["inspect", bundle, "--html", "-o", bundlePage]);
    browser = await launch();
  });
  after(async () => browser?.close());

  it("every chart keeps its labels whole, its points on the axes and its categories apart; rates carry error bars", async () => {
    const data = embedded(readFileSync(report, "utf8"));
    const names = [...new Set(data.layers.map((l) => l.category))];
    assert.equal(names.length, 12);
    const w = await watchedPage(browser);
    await w.page.goto(pathToFileURL(report).href);
    await w.page.waitForSelector('.chart[data-chart="cosine"] svg');
    for (const chart of ["categories", "benign", "perplexity", "sweep", "runs", "auroc", "margin", "cosine"]) {
      assert.deepEqual(await layoutProblems(w.page, chart), [], `chart ${chart}`);
    }
    // every category named on the per-category chart, at full length
    const labels = await w.page.$eval('.chart[data-chart="categories"]', (f) =>
      [...f.querySelectorAll('g[aria-label="fy-axis tick label"] text')].map((t) => t.textContent),
    );
    assert.deepEqual([...labels].sort(), [...names].sort());
    // one error bar per rate with an interval (two runs, each category, each condition, each metric)
    const run = data.runs[0]?.name;
    const rows = data.metrics.filter((r) => r.run === run && r.group === "harmful" && r.category !== null);
    const withCi = rows.reduce((n, r) => n + Object.keys(r.ci).filter((k) => k !== "perplexity").length, 0);
    assert.ok(withCi >= 12 * 2 * 3, `rates with intervals: ${withCi}`);
    const bars = await w.page.$eval('.chart[data-chart="categories"]', (f) => f.querySelectorAll("g.interval line").length);
    assert.equal(bars, withCi);
    // distinct colours: the 12 categories' lines on the separability chart are 12 colours
    const strokes = await w.page.$eval('.chart[data-chart="auroc"]', (f) =>
      [...f.querySelectorAll('g[aria-label="line"] path')].map((p) => p.getAttribute("stroke")),
    );
    assert.equal(new Set(strokes).size, 12, `colours: ${strokes.join(", ")}`);
    assert.deepEqual(w.errors, []);
    await screenshot(w.page, "report-12-categories.png", true);
    await w.page.close();
  });

  it("a bundle page counts only what it shows and keeps its 12 labels whole", async () => {
    const w = await watchedPage(browser);
    await w.page.goto(pathToFileURL(bundlePage).href);
    await w.page.waitForSelector('.chart[data-chart="cosine"] svg');
    const meta = await w.page.$eval("header .meta", (m) => m.textContent ?? "");
    assert.doesNotMatch(meta, /results file/);
    assert.match(meta, /^1 bundle\.$/);
    for (const chart of ["auroc", "margin", "cosine"]) assert.deepEqual(await layoutProblems(w.page, chart), [], `chart ${chart}`);
    assert.deepEqual(w.errors, []);
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
