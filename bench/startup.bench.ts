// Start-up cost: wall time of fresh Node processes running the CLI (`--help`, `inspect` on a bundle,
// a one-token `generate` on the embedded model) and importing the library, side by side with a bare
// `node -e 0`. Each is the median of alternating runs (one of each per round). A second pass runs the
// CLI in-process once per command and reports whether the native library (koffi or libllama) was
// mapped into the process after main() returned: it should be only for commands that run a model.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { median } from "./stats.js";

export interface StartupBenchRow {
  run: string;
  /** The child's arguments after the node executable. */
  args: string[];
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** median / the median of bare `node -e 0` */
  ratio: number;
  /** koffi or libllama mapped after the run; "n/a" off Linux */
  nativeLoaded: boolean | "n/a";
  /** the mapped files that matched */
  nativeFiles: string[];
}

const MARK = "@@safesteer-startup-bench ";

/** Runs main() (or imports the library) in this process, then reports the native mappings on stdout. */
const PROBE = `
import { readFileSync } from "node:fs";
const [what, mainUrl, ...args] = process.argv.slice(1);
if (what === "import") await import("safesteer");
else if (what === "cli") await (await import(mainUrl)).main([process.execPath, "safesteer", ...args]);
let files = null;
if (process.platform === "linux") {
  const paths = readFileSync("/proc/self/maps", "utf8").split("\\n").map((l) => l.trim().split(/\\s+/).slice(5).join(" "));
  files = [...new Set(paths.filter((p) => p.includes("koffi") || p.includes("libllama")))];
}
process.stdout.write("\\n${MARK}" + JSON.stringify(files) + "\\n");
`;

function spawnNode(root: string, args: string[]) {
  const r = spawnSync(process.execPath, args, { cwd: root, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status ?? r.signal}: ${r.stderr.trim().slice(-2000)}`);
  return r;
}

/** Builds dist/ when it is missing (the CLI and the package entry are the compiled files). */
export function ensureBuilt(root: string): void {
  if (existsSync(join(root, "dist", "index.js")) && existsSync(join(root, "dist", "cli", "main.js"))) return;
  process.stderr.write("dist/ is missing: npm run build...\n");
  const r = spawnSync("npm", ["run", "build"], { cwd: root, stdio: "inherit", shell: process.platform === "win32" });
  if (r.status !== 0) throw new Error(`npm run build failed (${r.status ?? r.signal})`);
}

export function startupBench(root: string, opts: { runs: number }): StartupBenchRow[] {
  ensureBuilt(root);
  const bin = join(root, "bin", "safesteer.js");
  const bundle = join(root, "reports", "organism", "organism.bundle.gguf");
  const cases: { run: string; args: string[]; probe: string[] }[] = [
    { run: "node -e 0 (bare)", args: ["-e", "0"], probe: ["bare"] },
    { run: "safesteer --help", args: [bin, "--help"], probe: ["cli", "--help"] },
    {
      run: 'import("safesteer")',
      args: ["--input-type=module", "-e", 'await import("safesteer")'],
      probe: ["import"],
    },
    { run: "safesteer inspect <organism bundle>", args: [bin, "inspect", bundle], probe: ["cli", "inspect", bundle] },
    {
      run: "safesteer generate -n 1 -t 0 (embedded model)",
      args: [bin, "generate", "-n", "1", "-t", "0"],
      probe: ["cli", "generate", "-n", "1", "-t", "0"],
    },
  ];
  // one warm-up of each (file cache), then alternating rounds, each round starting one case later
  for (const c of cases) spawnNode(root, c.args);
  const times: number[][] = cases.map(() => []);
  for (let r = 0; r < opts.runs; r++) {
    for (let k = 0; k < cases.length; k++) {
      const i = (r + k) % cases.length;
      const t0 = process.hrtime.bigint();
      spawnNode(root, (cases[i] as (typeof cases)[number]).args);
      (times[i] as number[]).push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
  }
  const mainUrl = pathToFileURL(join(root, "dist", "cli", "main.js")).href;
  const bare = median(times[0] as number[]);
  return cases.map((c, i) => {
    const [what, ...rest] = c.probe;
    const out = spawnNode(root, ["--input-type=module", "-e", PROBE, "--", what as string, mainUrl, ...rest]).stdout;
    const line = out.split("\n").find((l) => l.startsWith(MARK));
    if (!line) throw new Error(`${c.run}: the probe printed no report`);
    const files = JSON.parse(line.slice(MARK.length)) as string[] | null;
    const nativeFiles = files ?? [];
    const t = times[i] as number[];
    const med = median(t);
    return {
      run: c.run,
      args: c.args.map((a) => (a.startsWith(root) ? a.slice(root.length + 1) : a)),
      medianMs: med,
      minMs: Math.min(...t),
      maxMs: Math.max(...t),
      ratio: med / bare,
      nativeLoaded: files ? files.length > 0 : "n/a",
      nativeFiles: nativeFiles.map((p) => (p.startsWith(root) ? p.slice(root.length + 1) : p)),
    };
  });
}
