import { type Command, Option } from "commander";
import { Context, needsHooks, type SteeringVector } from "../../engine/context.js";
import { type GenerateOptions, generate, generateStream } from "../../engine/generate.js";
import type { Model } from "../../engine/model.js";
import { SafeSteerError } from "../../errors.js";
import { steer } from "../../steer/apply.js";
import { readBundle } from "../../steer/bundle.js";
import { checkSteeringModel, type PlannedSteering, planSteering, steeredPolicy } from "../../steer/decide.js";
import { detect } from "../../steer/detect.js";
import { policyOption } from "../../steer/policy.js";
import { renderExample } from "../../steer/render.js";
import { type Bundle, type Detector, FIRE_MODES, type FireMode } from "../../steer/types.js";
import { type NeuronCliOptions, neuronSuppression, withNeuronOptions } from "../neuron-options.js";
import { int, loadModel, type ModelOpts, nonNegativeInt, num, positiveInt, withModelOptions } from "../options.js";
import { interruptSignal } from "../progress.js";

interface GenerateCliOptions extends ModelOpts, NeuronCliOptions {
  prompt: string;
  chat?: boolean;
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  seed: number;
  stop?: string[];
  turnStop?: boolean;
  bundle?: string;
  steer?: string;
  rawStrength?: boolean;
  conditional?: boolean;
  fire: FireMode;
  compare?: boolean;
  force?: boolean;
}

/** Two texts in columns of half the terminal width. */
function sideBySide(left: string, right: string, width: number): string {
  const col = Math.max(20, Math.floor((width - 3) / 2));
  const wrap = (t: string) =>
    t.split("\n").flatMap((line) => {
      const out: string[] = [];
      let cur = "";
      for (const word of line.split(" ")) {
        if (cur && `${cur} ${word}`.length > col) {
          out.push(cur);
          cur = word;
        } else cur = cur ? `${cur} ${word}` : word;
        while (cur.length > col) {
          out.push(cur.slice(0, col));
          cur = cur.slice(col);
        }
      }
      out.push(cur);
      return out;
    });
  const a = ["UNSTEERED", "", ...wrap(left)];
  const b = ["STEERED", "", ...wrap(right)];
  return Array.from({ length: Math.max(a.length, b.length) }, (_, i) => `${(a[i] ?? "").padEnd(col)} | ${b[i] ?? ""}`).join("\n");
}

/** The steering --bundle/--steer/--conditional and --neurons/--suppress ask for, checked against the model before any work. */
async function generatePlan(model: Model, o: GenerateCliOptions): Promise<{ plan: PlannedSteering; bundle?: Bundle }> {
  const bundle = o.bundle ? readBundle(o.bundle) : undefined;
  const n = neuronSuppression(o);
  const neurons = n.neurons && n.suppress ? { set: n.neurons, suppress: n.suppress, mode: n.suppressMode } : undefined;
  await checkSteeringModel(model, { bundle, neurons: neurons?.set, force: o.force });
  if (o.conditional && !bundle?.detector)
    throw new SafeSteerError("usage", "--conditional needs a bundle with a detector: calibrate one first (safesteer detector).");
  const plan = planSteering(bundle, {
    policy: bundle ? policyOption(o.steer as string, bundle) : "none",
    mode: o.conditional ? "conditional" : "policy",
    fire: o.fire,
    raw: o.rawStrength,
    neurons,
  });
  return { plan, bundle };
}

/**
 * The vectors for the prompt. With --conditional, the part of the policy the bundle's detector
 * finds in the prompt; what fired and what is steered is reported on stderr (the audit trail).
 */
async function decideSteering(
  ctx: Context,
  plan: PlannedSteering,
  bundle: Bundle | undefined,
  o: GenerateCliOptions,
): Promise<SteeringVector[]> {
  if (!plan.needsDetection) return plan.decide().vectors;
  const [detection] = await detect(ctx, (bundle as Bundle).detector as Detector, [o.prompt], Boolean(o.chat));
  const { decision, vectors } = plan.decide({ detection });
  const scores = decision.scores ?? {};
  const fired = (decision.fired ?? []).map((c) => `${c} (${(scores[c] as number).toFixed(2)})`).join(", ");
  const steer = Object.entries(steeredPolicy(decision))
    .map(([c, s]) => `${c}=${s}`)
    .join(",");
  process.stderr.write(`detector: ${fired || "nothing fired"}; steering: ${steer || "none"}\n`);
  return vectors;
}

/** Generates (or compares) on a context of its own, steered as decided. */
async function runGenerate(model: Model, o: GenerateCliOptions): Promise<void> {
  const { plan, bundle } = await generatePlan(model, o);
  // activation hooks cost a little per token: only when the detector reads activations or a
  // vector is not a native control vector
  const hooks = plan.needsDetection || plan.decide().vectors.some(needsHooks);
  const ctx = new Context(model, { nCtx: o.ctx, hooks });
  const { signal, dispose } = interruptSignal();
  try {
    const tokens = renderExample(model, { prompt: o.prompt }, Boolean(o.chat));
    const gen: GenerateOptions = {
      maxTokens: o.maxTokens,
      temperature: o.temperature,
      topK: o.topK,
      topP: o.topP,
      minP: o.minP,
      seed: o.seed,
      // a chat answer ends where the template starts a new turn, not only at end-of-generation
      stop: [...(o.stop ?? []), ...(o.chat && o.turnStop !== false ? model.turnStops() : [])],
      signal,
    };
    const vectors = await decideSteering(ctx, plan, bundle, o);
    if (o.compare) {
      const plain = await generate(ctx, tokens, gen);
      using _steering = await steer(ctx, { vectors });
      const steered = await generate(ctx, tokens, gen);
      process.stdout.write(`${sideBySide(plain.text, steered.text, process.stdout.columns ?? 120)}\n`);
      return;
    }
    using _steering = await steer(ctx, { vectors });
    for await (const e of generateStream(ctx, [tokens], gen)) if (e.type === "token") process.stdout.write(e.text);
    process.stdout.write("\n");
  } finally {
    dispose();
    ctx.dispose();
  }
}

export function generateCommand(program: Command): void {
  withNeuronOptions(
    withModelOptions(
      program.command("generate").description("generate text (on stdout), optionally steered by a bundle and/or category neurons"),
      false,
    ),
  )
    .option("-p, --prompt <text>", "prompt (default: empty, i.e. BOS only)", "")
    .option("--chat", "wrap the prompt in the model's chat template as a user message")
    .option("-n, --max-tokens <n>", "tokens to generate at most", positiveInt("--max-tokens"), 256)
    .option("-t, --temperature <t>", "0 = greedy", num("--temperature"), 0.8)
    .option("--top-k <k>", "top-k (0 = off)", nonNegativeInt("--top-k"), 40)
    .option("--top-p <p>", "nucleus sampling (1 = off)", num("--top-p"), 0.95)
    .option("--min-p <p>", "min-p (0 = off)", num("--min-p"), 0.05)
    .option("-s, --seed <n>", "sampling seed", int("--seed"), 0)
    .option("--stop <text...>", "stop strings (with --chat, added to the template's own turn markers)")
    .option("--no-turn-stop", "with --chat: do not stop at the chat template's next-turn markers")
    .option("--bundle <file>", "SafeSteer bundle (from `safesteer build` or `import`)")
    .option("--steer <policy>", "category=strength,... (strength relative to the activation norm; see --raw-strength), or all")
    .option("--raw-strength", "strengths multiply the raw vectors (the paper's m)")
    .option("--conditional", "steer only the policy's categories that the bundle's detector finds in the prompt")
    .addOption(
      new Option("--fire <which>", "with --conditional: every category that fires, or only the most confident")
        .choices([...FIRE_MODES])
        .default("all"),
    )
    .option("--compare", "print the unsteered and the steered answer for the same seed side by side")
    .option("--force", "accept a bundle made for another file of the same shape")
    .action(async (o: GenerateCliOptions) => {
      if (Boolean(o.bundle) !== Boolean(o.steer))
        throw new SafeSteerError("usage", "--bundle and --steer go together: --bundle b.gguf --steer category=1.0");
      if (o.compare && !o.bundle && !o.neurons)
        throw new SafeSteerError("usage", "--compare needs --bundle and --steer, or --neurons and --suppress.");
      if (o.conditional && !o.bundle) throw new SafeSteerError("usage", "--conditional needs --bundle (with a detector) and --steer.");
      const model = loadModel(o);
      try {
        await runGenerate(model, o);
      } finally {
        model.dispose();
      }
    });
}
