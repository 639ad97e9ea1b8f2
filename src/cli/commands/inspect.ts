import { closeSync, openSync, readSync } from "node:fs";
import { basename } from "node:path";
import type { Command } from "commander";
import { SafeSteerError } from "../../errors.js";
import { readBundle } from "../../steer/bundle.js";
import { describeLayers, detectorLayers } from "../../steer/detect.js";
import { readNeurons } from "../../steer/neuron-file.js";
import type { Bundle } from "../../steer/types.js";
import { buildReport, writeReport } from "../../web/report-file.js";
import { checkOutputPath } from "../options.js";
import { neuronSummary } from "./neurons.js";

const f3 = (x: number | null | undefined) => (x === null || x === undefined ? "-" : x.toFixed(3));

/** A bundle as JSON-friendly data. */
export function bundleSummary(b: Bundle) {
  return {
    model: b.model,
    site: b.site,
    reduce: b.reduce,
    prune: b.prune,
    layers: b.layers,
    chat: b.chat,
    layerRule: b.layerRule,
    recommendedStrength: b.recommendedStrength,
    data: b.data,
    toolVersion: b.toolVersion,
    created: b.created,
    meanNorm: b.meanNorm,
    categories: Object.fromEntries(
      [...b.categories].map(([c, e]) => [
        c,
        {
          steerLayers: e.steerLayers,
          strength: e.strength ?? null,
          nUnsafe: e.nUnsafe,
          nSafe: e.nSafe,
          safeSource: e.safeSource,
          diagnostics: e.diagnostics,
        },
      ]),
    ),
    cosine: b.cosine,
    detector: b.detector && {
      site: b.detector.site,
      pooling: b.detector.reduce,
      categories: Object.fromEntries(
        Object.entries(b.detector.categories).map(([c, d]) => [
          c,
          { layer: d.layer, ...(d.layers ? { layers: d.layers } : {}), threshold: d.threshold, scale: d.scale },
        ]),
      ),
    },
  };
}

export function printInspect(b: Bundle, json: boolean): void {
  if (json) {
    process.stdout.write(`${JSON.stringify(bundleSummary(b), null, 2)}\n`);
    return;
  }
  const out: string[] = [];
  out.push(
    `model     ${b.model.name || b.model.architecture}: ${b.model.nLayer} layers, width ${b.model.nEmbd}${b.model.fileType ? `, ${b.model.fileType}` : ""}, sha256 ${b.model.sha256.slice(0, 16)}`,
  );
  out.push(`site      ${b.site}, reduce ${b.reduce}, prune ${b.prune}, chat template ${b.chat ? "yes" : "no"}`);
  out.push(`layers    ${b.layers.join(",")} (${b.layerRule})`);
  const relative = Object.keys(b.meanNorm).length > 0;
  out.push(
    relative
      ? `strength  recommended ${b.recommendedStrength.toFixed(3)} (relative: the added vector's norm over the mean activation norm)`
      : `strength  recommended ${b.recommendedStrength} with --raw-strength (imported vectors have no activation norms)`,
  );
  out.push(`data      ${b.data.map((d) => `${d.name} (${d.examples})`).join(", ")}`);
  out.push("");
  out.push(
    "| category | layer | tuned strength | n unsafe | n safe | safe side | norm | norm / act. norm | held-out AUROC | margin (d) | kept |",
  );
  out.push("|---|---|---|---|---|---|---|---|---|---|---|");
  for (const [c, e] of b.categories) {
    const l = e.steerLayers[0] as number;
    const d = e.diagnostics[l];
    const mn = b.meanNorm[l];
    out.push(
      `| ${c} | ${e.steerLayers.join(",")} | ${e.strength ?? "-"} | ${e.nUnsafe} | ${e.nSafe} | ${e.safeSource} | ${f3(d?.norm)} | ${mn ? f3((d?.norm ?? 0) / mn) : "-"} | ${f3(d?.auroc)} | ${f3(d?.margin)} | ${d?.kept ?? "-"} |`,
    );
  }
  const names = [...b.categories.keys()];
  const layer = b.categories.get(names[0] as string)?.steerLayers[0];
  const cos = layer !== undefined ? b.cosine[layer] : undefined;
  if (cos && names.length > 1) {
    out.push("", `cosine similarity between categories at layer ${layer}:`, "");
    out.push(`| | ${names.map((_, i) => i).join(" | ")} |`, `|---|${names.map(() => "---").join("|")}|`);
    for (const [i, n] of names.entries()) out.push(`| ${i} ${n} | ${(cos[i] ?? []).map((x) => x.toFixed(2)).join(" | ")} |`);
  }
  if (b.detector) {
    const reads = [...new Set(Object.values(b.detector.categories).map((d) => describeLayers(detectorLayers(d))))].join("; ");
    out.push(
      "",
      `detector  ${b.detector.reduce} projection at ${b.detector.site} ${reads}: ${Object.keys(b.detector.categories).join(", ")}`,
    );
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

/** A neuron file is JSON; a bundle is GGUF. */
function isNeuronFile(path: string): boolean {
  try {
    const fd = openSync(path, "r");
    const head = Buffer.alloc(1);
    readSync(fd, head, 0, 1, 0);
    closeSync(fd);
    return head.toString() === "{";
  } catch {
    return false; // readBundle says what is wrong with the path
  }
}

function inspectNeurons(path: string, o: { json?: boolean; html?: boolean; output?: string }): void {
  if (o.html) {
    if (!o.output) throw new SafeSteerError("usage", "--html writes a file: add -o neurons.html.");
    checkOutputPath(o.output);
    writeReport(o.output, buildReport({ results: [], neurons: [path], title: `SafeSteer neurons ${basename(path)}` }));
    process.stdout.write(`wrote ${o.output}\n`);
    return;
  }
  if (o.output) throw new SafeSteerError("usage", "-o goes with --html (inspect prints text or --json on stdout).");
  const set = readNeurons(path);
  process.stdout.write(o.json ? `${JSON.stringify(set, null, 2)}\n` : `${neuronSummary(set, set.top)}\n`);
}

export function inspectCommand(program: Command): void {
  program
    .command("inspect")
    .description("show a bundle (categories, layers, norms, separability, cosine matrix) or a neuron file (units, specificity, logit lens)")
    .argument("<file>", "bundle file, or neuron file (JSON from `safesteer neurons`)")
    .option("--json", "print JSON")
    .option("--html", "write an HTML page with plots (separability per layer, cosine heat map) to -o")
    .option("-o, --output <file>", "with --html: the HTML file to write")
    .action((path: string, o: { json?: boolean; html?: boolean; output?: string }) => {
      if (isNeuronFile(path)) return inspectNeurons(path, o);
      if (o.html) {
        if (!o.output) throw new SafeSteerError("usage", "--html writes a file: add -o bundle.html.");
        checkOutputPath(o.output);
        writeReport(o.output, buildReport({ results: [], bundles: [path], title: `SafeSteer bundle ${basename(path)}` }));
        process.stdout.write(`wrote ${o.output}\n`);
        return;
      }
      if (o.output) throw new SafeSteerError("usage", "-o goes with --html (inspect prints text or --json on stdout).");
      printInspect(readBundle(path), Boolean(o.json));
    });
}
