// The neuron steering options that generate, eval and likelihood share: --neurons FILE --suppress
// category[=s],... --suppress-mode mean|scale.
import { type Command, Option } from "commander";
import { SafeSteerError } from "../errors.js";
import type { NeuronSuppression } from "../steer/apply.js";
import { readNeurons } from "../steer/neuron-file.js";
import { SUPPRESS_MODES, type Suppression, type SuppressMode } from "../steer/neuron-steer.js";

export interface NeuronCliOptions {
  neurons?: string;
  suppress?: string;
  suppressMode: SuppressMode;
}

export function withNeuronOptions(cmd: Command): Command {
  return cmd
    .option("--neurons <file>", "category neurons (from `safesteer neurons`) to suppress with --suppress")
    .option(
      "--suppress <list>",
      "category[=s],... : mean mode s=1 (default) sets the units to their safe-side mean; scale mode multiplies them (default 0: ablate)",
    )
    .addOption(new Option("--suppress-mode <mode>", "how --suppress moves the units").choices([...SUPPRESS_MODES]).default("mean"));
}

/** "violence,weapons=0.5": each category's s, the mode's default where none is given. */
export function parseSuppress(spec: string, mode: SuppressMode): Suppression {
  const out: Suppression = {};
  for (const part of spec
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [cat, value, extra] = part.split("=").map((x) => x.trim());
    const s = value === undefined ? (mode === "mean" ? 1 : 0) : Number(value);
    if (!cat || extra !== undefined || value === "" || !Number.isFinite(s))
      throw new SafeSteerError("usage", `--suppress: "${part}" is not category or category=number (e.g. --suppress violence,weapons=0.5).`);
    out[cat] = s;
  }
  if (Object.keys(out).length === 0) throw new SafeSteerError("usage", "--suppress names no category: e.g. --suppress violence.");
  return out;
}

/** The suppression the options ask for (checked against the file's categories when applied), or nothing. */
export function neuronSuppression(o: NeuronCliOptions): NeuronSuppression {
  if (Boolean(o.neurons) !== Boolean(o.suppress))
    throw new SafeSteerError("usage", "--neurons and --suppress go together: --neurons neurons.json --suppress violence");
  if (!o.neurons || !o.suppress) return {};
  return { neurons: readNeurons(o.neurons), suppress: parseSuppress(o.suppress, o.suppressMode), suppressMode: o.suppressMode };
}
