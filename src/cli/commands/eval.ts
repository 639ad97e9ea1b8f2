import { existsSync, readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import type { Example } from "../../data/example.js";
import { Context } from "../../engine/context.js";
import type { Model } from "../../engine/model.js";
import { SafeSteerError } from "../../errors.js";
import { BASELINE_HELP, type BaselineSpec, baselineConditions, parseBaseline } from "../../eval/baselines.js";
import { runEval } from "../../eval/harness.js";
import { type EvalItem, samplePerGroup, toEvalItems } from "../../eval/item.js";
import { makeJudge } from "../../eval/judges.js";
import { choicesTable, inertConditions, markdownSummary } from "../../eval/report.js";
import { type ConditionSpec, type EvalResults, RESULTS_SCHEMA } from "../../eval/results.js";
import { applyChoices, DEFAULT_BUDGET, parseSweep, selectPerCategory, sweepConditions } from "../../eval/select.js";
import { toyJudge } from "../../organism/judge.js";
import { answerPairs, buildCaaBundle, buildRefusalDirectionBundle } from "../../steer/baselines.js";
import { readBundle, writeBundle } from "../../steer/bundle.js";
import { policyOption } from "../../steer/policy.js";
import { usesChat } from "../../steer/render.js";
import { type Bundle, FIRE_MODES, type FireMode } from "../../steer/types.js";
import { writeFileAtomic } from "../../util/atomic-write.js";
import { lockOutput } from "../lock.js";
import { type NeuronCliOptions, neuronSuppression, withNeuronOptions } from "../neuron-options.js";
import {
  checkOutputPath,
  type DataOpts,
  int,
  loadData,
  loadModel,
  type ModelOpts,
  num,
  positiveInt,
  withDataOptions,
  withModelOptions,
} from "../options.js";
import { interruptSignal, progressBar } from "../progress.js";

interface EvalCliOptions extends ModelOpts, DataOpts, NeuronCliOptions {
  data: string[];
  bundle?: string;
  steer?: string;
  sweep?: string;
  mode: ConditionSpec["mode"];
  fire: FireMode;
  rawStrength?: boolean;
  judge: string;
  seed: number;
  seeds: number;
  temperature: number;
  maxTokens: number;
  stop?: string[];
  batch: number;
  chat: "auto" | "always" | "never";
  force?: boolean;
  resume?: boolean;
  perGroup?: number;
  tunedBundle?: string;
  baseline?: string[];
  baselineData?: string[];
  output: string;
}

export function evalCommand(program: Command): void {
  withEvalOptions(
    withNeuronOptions(
      withDataOptions(
        withModelOptions(
          program.command("eval").description("answer prompts unsteered and steered with the same seeds, judge, and summarise"),
          true,
        ),
      ),
    ),
  ).action(runEvalCommand);
}

/** eval's own options: data, steering and its mode, baselines and sweeps, sampling, output. */
function withEvalOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--data <files...>", "prompt files (any supported format)")
    .option("--bundle <file>", "SafeSteer bundle")
    .option("--steer <policy>", "category=strength,... (or 'all': every category at its recommended strength)")
    .option(
      "--sweep <spec>",
      "strength=0.2,0.4;layer=2,3: one steered condition per combination (known-category mode), for the bundle and each vector baseline",
    )
    .addOption(new Option("--mode <mode>", "how --steer applies").choices(["policy", "known", "conditional"]).default("known"))
    .addOption(
      new Option("--fire <which>", "conditional mode: steer every category the detector fires, or only the most confident")
        .choices([...FIRE_MODES])
        .default("all"),
    )
    .option("--raw-strength", "strengths multiply the raw vectors")
    .option("--judge <judge>", "toy | refusal-keywords | llm:<guard.gguf>", "refusal-keywords")
    .option("--seed <n>", "seed of prompt 0 (prompt i uses seed + i in every condition)", int("--seed"), 1)
    .option(
      "--seeds <n>",
      "answers sampled per prompt, the same seeds in every condition (rates then get bootstrap intervals over prompts)",
      positiveInt("--seeds"),
      1,
    )
    .option("-t, --temperature <t>", "sampling temperature", num("--temperature"), 0.8)
    .option("-n, --max-tokens <n>", "answer length limit", positiveInt("--max-tokens"), 64)
    .option("--stop <text...>", "strings that end an answer (e.g. the next turn's marker)")
    .option("--batch <n>", "prompts answered side by side", positiveInt("--batch"), 16)
    .addOption(new Option("--chat <mode>", "render prompts with the chat template").choices(["auto", "always", "never"]).default("auto"))
    .option("--force", "accept a bundle made for another file of the same shape")
    .option("--per-group <n>", "a seeded sample of at most n prompts per kind and category", positiveInt("--per-group"))
    .option(
      "--tuned-bundle <file>",
      "with --sweep: write the bundle with each category's chosen layer and strength (use it with --steer all); vector baselines beside it as FILE.<method>.gguf",
    )
    .option("--baseline <spec...>", `conditions beside steering, in the same table: ${BASELINE_HELP}`)
    .option(
      "--baseline-data <files...>",
      "data the vector baselines are built from (CAA: prompts with a safe and an unsafe response; refusal direction: harmful and harmless prompts)",
    )
    .option("--resume", "continue the run saved in the output file")
    .requiredOption("-o, --output <results.json>", "results file (written atomically after every batch)");
}

/** Holds the output file, reads the prompts, loads the model, and evaluates; Ctrl-C stops it with the answers so far saved. */
async function runEvalCommand(o: EvalCliOptions): Promise<void> {
  checkOutputPath(o.output);
  // two runs on one -o would each rewrite it after every batch, and one run's results would be lost
  const lock = lockOutput(o.output);
  try {
    if (o.tunedBundle) checkOutputPath(o.tunedBundle, "--tuned-bundle");
    const examples = o.data.flatMap((p) => loadData(p, o).examples);
    const items = samplePerGroup(toEvalItems(examples), o.perGroup, o.seed);
    // 0 prompts would write a "complete" file of 0% rates: a result that means nothing
    if (items.length === 0)
      throw new SafeSteerError("usage", `no prompts to evaluate in ${o.data.join(", ")}: give --data files with at least one prompt.`);
    const model = loadModel(o);
    const ctx = new Context(model, { nCtx: o.ctx ?? 4096, nSeq: o.batch });
    const { signal, dispose } = interruptSignal();
    try {
      await evaluate(o, items, model, ctx, signal);
    } finally {
      dispose();
      ctx.dispose();
      model.dispose();
    }
  } finally {
    lock.release();
  }
}

/** A set of vectors a sweep tunes: the bundle's (vectors undefined) or a baseline's. */
type Swept = { vectors?: string; bundle: Bundle };

/** The conditions (unsteered, steered, sweeps, baselines), a resume check, the run, its tables and files. */
async function evaluate(o: EvalCliOptions, items: EvalItem[], model: Model, ctx: Context, signal: AbortSignal): Promise<void> {
  const bundle = o.bundle ? readBundle(o.bundle) : undefined;
  const specs = (o.baseline ?? []).map(parseBaseline);
  const vectorSets = await baselineVectors(o, specs, ctx, signal);
  if ((o.steer || o.sweep) && !bundle && !(o.sweep && !o.steer && Object.keys(vectorSets).length > 0))
    throw new SafeSteerError(
      "usage",
      "--steer and --sweep need --bundle (--sweep without one sweeps the vector baselines: --baseline caa).",
    );
  if (specs.some((b) => b.kind === "detect-refuse") && !bundle?.detector)
    throw new SafeSteerError(
      "usage",
      "--baseline detect-refuse needs a bundle with a detector (--bundle; calibrate one with safesteer detector).",
    );
  const swept: Swept[] = [...(bundle ? [{ bundle }] : []), ...Object.entries(vectorSets).map(([vectors, b]) => ({ vectors, bundle: b }))];
  const neurons = neuronSuppression(o);
  const conditions = evalConditions(o, bundle, specs, vectorSets, swept);
  const resume = o.resume && existsSync(o.output) ? readResume(o, items, conditions) : undefined;
  const judge = makeJudge(o.judge, { toy: toyJudge });
  const bar = progressBar("evaluating");
  const save = (r: EvalResults) => writeFileAtomic(o.output, [`${JSON.stringify(r, null, 1)}\n`]);
  try {
    const results = await runEval(ctx, items, {
      judge,
      generation: {
        seed: o.seed,
        temperature: o.temperature,
        topK: 40,
        topP: 0.95,
        minP: 0.05,
        maxTokens: o.maxTokens,
        stop: o.stop,
        ...(o.seeds > 1 ? { seeds: o.seeds } : {}),
      },
      conditions,
      chat: usesChat(model, o.chat),
      bundle,
      bundlePath: o.bundle,
      force: o.force,
      neurons: neurons.neurons,
      detector: bundle?.detector,
      vectorSets,
      resume,
      signal,
      onProgress: (d, t) => bar.update(d, t),
      onCheckpoint: save,
    });
    bar.stop();
    process.stdout.write(`${markdownSummary(results)}\n`);
    for (const c of inertConditions(results))
      process.stderr.write(
        `warning: steering changed none of the ${c.steered} steered answers in "${c.condition}": the strength is 0 or the vector never reaches the model (check the layer and site).\n`,
      );
    if (o.sweep) writeChoices(o, results, swept, save);
  } finally {
    bar.stop();
    judge.dispose?.();
  }
}

/** Unsteered, steered (--steer, as --mode says), suppressed (--neurons alone), the baselines, and one condition per sweep setting. */
function evalConditions(
  o: EvalCliOptions,
  bundle: Bundle | undefined,
  specs: BaselineSpec[],
  vectorSets: Record<string, Bundle>,
  swept: Swept[],
): ConditionSpec[] {
  const policy = o.steer && bundle ? policyOption(o.steer, bundle) : undefined;
  const fire = o.mode === "conditional" ? { fire: o.fire } : {};
  const conditions: ConditionSpec[] = [{ name: "unsteered", mode: "none" }];
  if (policy) conditions.push({ name: "steered", mode: o.mode, policy, raw: o.rawStrength, ...fire });
  // --neurons: the steered condition also suppresses the units (per --mode, as the policy); alone, a condition of its own
  const neurons = neuronSuppression(o);
  const steered = conditions.find((c) => c.name === "steered");
  const sup = neurons.suppress ? { suppress: neurons.suppress, suppressMode: o.suppressMode } : undefined;
  if (sup && steered) Object.assign(steered, sup);
  else if (sup) conditions.push({ name: "suppressed", mode: o.mode, ...fire, ...sup });
  conditions.push(
    ...baselineConditions(specs, { mode: o.mode, fire: o.fire, raw: o.rawStrength, categories: policy && Object.keys(policy), vectorSets }),
  );
  if (o.sweep) {
    const s = parseSweep(o.sweep);
    for (const { vectors, bundle: b } of swept) {
      const cats = (policy ? Object.keys(policy) : [...b.categories.keys()]).filter((c) => b.categories.has(c));
      const layers = s.layers ?? [...new Set(cats.flatMap((c) => b.categories.get(c)?.steerLayers ?? []))];
      conditions.push(...sweepConditions(cats, layers, s.strengths, o.rawStrength, vectors));
    }
  }
  return conditions;
}

/** After a sweep: per category and set of vectors, the least unsafe setting within the budgets, printed, saved, and written as tuned bundles. */
function writeChoices(o: EvalCliOptions, results: EvalResults, swept: Swept[], save: (r: EvalResults) => void): void {
  const choices = swept.flatMap(({ vectors }) => selectPerCategory(results, "unsteered", DEFAULT_BUDGET, vectors));
  process.stdout.write(`\n${choicesTable(choices).join("\n")}\n`);
  save({ ...results, selection: choices, budget: DEFAULT_BUDGET });
  if (!o.tunedBundle) return;
  for (const { vectors, bundle: b } of swept) {
    const file = vectors ? o.tunedBundle.replace(/(\.gguf)?$/, `.${vectors}.gguf`) : o.tunedBundle;
    writeBundle(
      file,
      applyChoices(
        b,
        choices.filter((c) => c.vectors === vectors),
      ),
    );
    process.stderr.write(`wrote ${file}${vectors ? ` (use it with --baseline ${vectors}:${file})` : ""}\n`);
  }
}

/** The saved run to continue, refused when it is another evaluation. */
function readResume(o: EvalCliOptions, items: EvalItem[], conditions: ConditionSpec[]): EvalResults {
  let resume: EvalResults;
  try {
    resume = JSON.parse(readFileSync(o.output, "utf8")) as EvalResults;
  } catch (e) {
    // results are written atomically, so a broken file was cut or edited by something else
    throw new SafeSteerError(
      "usage",
      `${o.output} is not a readable results file (${(e as Error).message}): restore it, or remove it to start afresh (without --resume).`,
    );
  }
  if (typeof resume !== "object" || resume === null || !Array.isArray(resume.items) || !Array.isArray(resume.answers)) {
    throw new SafeSteerError("usage", `${o.output} is not a SafeSteer results file: remove it or choose another -o.`);
  }
  if (
    resume.schema !== RESULTS_SCHEMA ||
    resume.items.length !== items.length ||
    (resume.generation?.seeds ?? 1) !== o.seeds ||
    JSON.stringify(resume.conditions) !== JSON.stringify(conditions)
  ) {
    throw new SafeSteerError(
      "usage",
      `${o.output} holds a different evaluation (other prompts, conditions or --seeds); remove it or drop --resume.`,
    );
  }
  return resume;
}

/**
 * The vector baselines' bundles: read from a file (caa:<file>), or built from --baseline-data
 * (never the evaluated prompts): CAA from its answer pairs, the refusal direction from its harmful
 * and harmless prompts, over the candidate layers of --sweep (else every layer, the held-out rule picks).
 */
async function baselineVectors(
  o: EvalCliOptions,
  specs: BaselineSpec[],
  ctx: Context,
  signal: AbortSignal,
): Promise<Record<string, Bundle>> {
  const out: Record<string, Bundle> = {};
  for (const b of specs) {
    if (b.kind !== "caa" && b.kind !== "refusal-direction") continue;
    if (b.file) {
      const read = readBundle(b.file);
      if (read.method !== b.kind)
        throw new SafeSteerError(
          "usage",
          `${b.file} holds ${read.method ?? "SafeSteer"} vectors, not ${b.kind}: give the file --tuned-bundle wrote for ${b.kind}.`,
        );
      out[b.kind] = read;
      continue;
    }
    if (!o.baselineData?.length)
      throw new SafeSteerError(
        "usage",
        `--baseline ${b.kind} builds its vectors from --baseline-data (${b.kind === "caa" ? "prompts each with a safe and an unsafe response" : "harmful and harmless prompts"}; not the evaluated prompts): give it, or a built bundle as --baseline ${b.kind}:<file>.`,
      );
    const datasets = o.baselineData.map((p) => loadData(p, o));
    const examples = datasets.flatMap((d) => d.examples);
    const layers = o.sweep ? parseSweep(o.sweep).layers : undefined;
    const bar = progressBar(`building ${b.kind} vectors`);
    const opts = {
      layers: layers ?? ("auto" as const),
      chat: o.chat,
      seed: o.seed,
      data: datasets.map((d) => ({ name: d.name, path: d.path, sha256: d.sha256, examples: d.examples.length })),
      signal,
      onProgress: (d: number, t: number) => bar.update(d, t),
    };
    try {
      if (b.kind === "caa") out.caa = await buildCaaBundle(ctx, answerPairs(examples), opts);
      else {
        const kinds = toEvalItems(examples);
        // a harmful prompt's safe answer is not a harmless prompt
        const harmfulPrompts = new Set(kinds.filter((x) => x.kind === "harmful").map((x) => x.prompt));
        const unique = (xs: EvalItem[]) => [...new Map(xs.map((x) => [x.prompt, x])).values()];
        const asExample = (x: EvalItem): Example => ({ prompt: x.prompt, category: x.category, label: "safe", source: "baseline-data" });
        out["refusal-direction"] = await buildRefusalDirectionBundle(
          ctx,
          unique(kinds.filter((x) => x.kind === "harmful")).map(asExample),
          unique(kinds.filter((x) => !harmfulPrompts.has(x.prompt))).map(asExample),
          opts,
        );
      }
    } finally {
      bar.stop();
    }
  }
  return out;
}
