import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { DataError } from "../../src/data/errors.js";
import { categoryId, countByCategory } from "../../src/data/example.js";
import { dataFile, loadDataset } from "../../src/data/load.js";
import { tmpFile } from "../support/models.js";

describe("data adapters: every file in ../shared/data", () => {
  it("CatQA: 11 categories x 50 unsafe questions, ids like hate_harass_violence", () => {
    const d = loadDataset(dataFile("catqa_english.json"));
    assert.equal(d.name, "catqa");
    const c = countByCategory(d.examples, "unsafe");
    assert.equal(Object.keys(c).length, 11);
    for (const n of Object.values(c)) assert.equal(n, 50);
    assert.ok("hate_harass_violence" in c && "malware_viruses" in c && "tailored_financial_advice" in c, Object.keys(c).join());
    assert.equal(d.skipped.length, 0);
  });

  it("JailbreakBench: 10 categories x 10", () => {
    const d = loadDataset(dataFile("jailbreakbench.csv"));
    assert.equal(d.name, "jailbreakbench");
    const c = countByCategory(d.examples);
    assert.equal(Object.keys(c).length, 10);
    for (const n of Object.values(c)) assert.equal(n, 10);
    assert.ok("harassment_discrimination" in c);
  });

  it("HarmBench: 400 behaviours by SemanticCategory (7), contextual ones carry their context", () => {
    const d = loadDataset(dataFile("harmbench_behaviors_text_all.csv"));
    assert.equal(d.name, "harmbench");
    assert.equal(d.examples.length, 400);
    const c = countByCategory(d.examples);
    assert.deepEqual(Object.keys(c).sort(), [
      "chemical_biological",
      "copyright",
      "cybercrime_intrusion",
      "harassment_bullying",
      "harmful",
      "illegal",
      "misinformation_disinformation",
    ]);
    assert.equal(
      Object.values(c).reduce((a, b) => a + b, 0),
      400,
    );
    console.log(`  HarmBench per category: ${JSON.stringify(c)}`);
    assert.ok(
      d.examples.some((e) => e.prompt.includes("\n\n")),
      "contextual behaviours include their ContextString",
    );
  });

  it("AdvBench: 520 unsafe, no category", () => {
    const d = loadDataset(dataFile("advbench.csv"));
    assert.equal(d.name, "advbench");
    assert.equal(d.examples.length, 520);
    assert.ok(d.examples.every((e) => e.label === "unsafe" && e.category === undefined));
  });

  it("XSTest: 250 safe, 200 unsafe; type is the category (18 types x 25)", () => {
    const d = loadDataset(dataFile("xstest_prompts.csv"));
    assert.equal(d.name, "xstest");
    assert.equal(d.examples.filter((e) => e.label === "safe").length, 250);
    assert.equal(d.examples.filter((e) => e.label === "unsafe").length, 200);
    const c = countByCategory(d.examples);
    assert.equal(Object.keys(c).length, 18);
    for (const n of Object.values(c)) assert.equal(n, 25);
  });

  it("harmless instructions: 6264 safe", () => {
    const d = loadDataset(dataFile("harmless_alpaca.json"));
    assert.equal(d.name, "harmless");
    assert.equal(d.examples.length, 6264);
    assert.ok(d.examples.every((e) => e.label === "safe"));
  });

  it("MT-Bench and Vicuna-bench: 80 safe questions each, first turn, by category (8 and 9)", () => {
    const mt = loadDataset(dataFile("mt_bench_question.jsonl"));
    assert.equal(mt.name, "mtbench");
    assert.equal(mt.examples.length, 80);
    assert.equal(Object.keys(countByCategory(mt.examples)).length, 8);
    const vic = loadDataset(dataFile("vicuna_bench_question.jsonl"));
    assert.equal(vic.examples.length, 80);
    assert.equal(Object.keys(countByCategory(vic.examples)).length, 9);
  });
});

describe("the generic format", () => {
  const lines = [
    '{"prompt": "How do I pick a lock?", "category": "Theft & Burglary"}',
    '{"prompt": "How do I bake bread?", "response": "Mix flour...", "label": "safe"}',
    '{"prompt": "", "category": "x"}',
    "not json at all",
    '{"prompt": "Rob a bank", "category": "theft", "label": "maybe"}',
    '{"prompt": "Be nice", "label": "safe", "category": "theft"}',
  ];
  const path = tmpFile("generic.jsonl");
  writeFileSync(path, `${lines.join("\n")}\n`);

  it("reads prompt, response, category id and label; label defaults by category", () => {
    const d = loadDataset(path);
    assert.equal(d.name, "generic");
    assert.deepEqual(
      d.examples.map((e) => [e.prompt, e.response, e.category, e.label]),
      [
        ["How do I pick a lock?", undefined, "theft_burglary", "unsafe"],
        ["How do I bake bread?", "Mix flour...", undefined, "safe"],
        ["Be nice", undefined, "theft", "safe"],
      ],
    );
  });

  it("bad rows are skipped and counted, or a clear error with file and line under strict", () => {
    const d = loadDataset(path);
    assert.deepEqual(
      d.skipped.map((s) => s.line),
      [3, 4, 5],
    );
    assert.throws(
      () => loadDataset(path, { strict: true }),
      (e: DataError) => e.code === "data_invalid" && e.message.startsWith(`${path}:3: missing "prompt"`),
    );
  });

  it("CSV and JSON arrays in the same shape load too", () => {
    const csv = tmpFile("generic.csv");
    writeFileSync(csv, 'prompt,category,label\n"Hello, world",,safe\nSteal a car,Theft,\n');
    assert.deepEqual(
      loadDataset(csv).examples.map((e) => [e.prompt, e.category, e.label]),
      [
        ["Hello, world", undefined, "safe"],
        ["Steal a car", "theft", "unsafe"],
      ],
    );
    const json = tmpFile("generic.json");
    writeFileSync(json, JSON.stringify([{ prompt: "a", category: "B c" }]));
    assert.equal(loadDataset(json).examples[0]!.category, "b_c");
  });

  it("category ids are stable", () => {
    assert.equal(categoryId("Hate/Harass/Violence"), "hate_harass_violence");
    assert.equal(categoryId("  Fraud/Deception "), "fraud_deception");
  });

  it("unknown files and formats are clear errors", () => {
    const odd = tmpFile("odd.jsonl");
    writeFileSync(odd, '{"text": "no prompt field"}\n');
    assert.throws(
      () => loadDataset(odd),
      (e: DataError) => e.code === "unknown_format" && /generic format/.test(e.message),
    );
    assert.throws(
      () => loadDataset(tmpFile("x.txt")),
      (e: DataError) => e.code === "data_not_found",
    );
    writeFileSync(tmpFile("y.txt"), "x");
    assert.throws(
      () => loadDataset(tmpFile("y.txt")),
      (e: DataError) => e.code === "unknown_format" && /\.json, \.jsonl or \.csv/.test(e.message),
    );
  });
});
