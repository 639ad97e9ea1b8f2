import type { Command } from "commander";
import { engineInfo } from "../../engine/runtime.js";
import { probeSites, type SiteProbe } from "../../engine/site-probe.js";
import { loadModel, type ModelOpts, withEngineOptions } from "../options.js";

/** One line per site: capture and steering as measured, with the logit change or the reason. */
function siteTable(sites: SiteProbe[]): string {
  const rows = sites.map((s) => {
    const capture = s.capture.ok ? "yes" : "no";
    const steer = s.steer.ok ? `yes (${s.steer.via}, max logit change ${s.steer.logitChange?.toPrecision(3)})` : `no: ${s.steer.error}`;
    const why = !s.capture.ok ? `  [capture: ${s.capture.error}]` : "";
    return `  ${s.site.padEnd(11)} ${capture.padEnd(8)} ${steer}${why}`;
  });
  return [`sites at layer ${sites[0]?.layer} (measured):`, `  ${"site".padEnd(11)} ${"capture".padEnd(8)} steering`, ...rows].join("\n");
}

export function infoCommand(program: Command): void {
  withEngineOptions(
    program
      .command("info")
      .description("show a model's metadata, which sites capture and steer (measured), and which llama.cpp build runs it")
      .argument("<model>", "model file (GGUF)")
      .option("--json", "print JSON")
      .option("--no-sites", "skip the per-site probe (a few short decodes)"),
  ).action(async (path: string, o: ModelOpts & { json?: boolean; sites: boolean }) => {
    const model = loadModel({ ...o, model: path });
    try {
      const { backend, libraryDir, custom, version, devices, build, buildInfo } = engineInfo();
      const sites = o.sites ? await probeSites(model) : undefined;
      const info = {
        ...model.info,
        fingerprint: await model.fingerprint(),
        steerable: await model.supportsControlVectors(),
        // build: "prebuilt" (node-llama-cpp's package), "user-build" (`safesteer engine build`) or a custom folder
        engine: { llamaCpp: version, backend, build, ...(buildInfo ? { buildInfo } : {}), libraryDir, custom, devices },
        ...(sites ? { sites } : {}),
      };
      if (o.json) {
        process.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
        return;
      }
      for (const [k, v] of Object.entries(info)) {
        if (k === "sites") continue;
        const text = typeof v === "object" ? JSON.stringify(v) : String(v);
        process.stdout.write(`${k.padEnd(14)} ${k === "chatTemplate" && text.length > 80 ? `${text.slice(0, 77)}...` : text}\n`);
      }
      if (sites) process.stdout.write(`${siteTable(sites)}\n`);
    } finally {
      model.dispose();
    }
  });
}
