import { existsSync, readFileSync } from "node:fs";
import { type Command, Option } from "commander";
import { Context } from "../../engine/context.js";
import { SafeSteerError } from "../../errors.js";
import { runEval } from "../../eval/harness.js";
import { samplePerGroup, toEvalItems } from "../../eval/item.js";
import { makeJudge } from "../../eval/judges.js";
import { choicesTable, inertConditions, markdownSummary } from "../../eval/report.js";
import { type ConditionSpec, type EvalResults, RESULTS_SCHEMA } from "../../eval/results.js";
import { applyChoices, DEFAULT_BUDGET, parseSweep, selectPerCategory, sweepConditions } from "../../eval/select.js";
import { toyJudge } from "../../organism/judge.js";
import { readBundle, writeBundle } from "../../steer/bundle.js";
import { policyOption } from "../../steer/policy.js";
import { usesChat } from "../../steer/render.js";
import { FIRE_MODES, type FireMode } from "../../steer/types.js";
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
  temperature: number;
  maxTokens: number;
  stop?: string[];
  batch: number;
  chat: "auto" | "always" | "never";
  force?: boolean;
  resume?: boolean;
  perGroup?: number;
  tunedBundle?: string;
  output: string;
}

export function evalCommand(program: Command): void {
  withNeuronOptions(
    withDataOptions(
      withModelOptions(
        program.command("eval").description("answer prompts unsteered and steered with the same seeds, judge, and summarise"),
        true,
      ),
    ),
  )
    .requiredOption("--data <files...>", "prompt files (any supported format)")
    .option("--bundle <file>", "SafeSteer bundle")
    .option("--steer <policy>", "category=strength,... (or 'all': every category at its recommended strength)")
    .option("--sweep <spec>", "strength=0.2,0.4;layer=2,3: one steered condition per combination (known-category mode)")
    .addOption(new Option("--mode <mode>", "how --steer applies").choices(["policy", "known", "conditional"]).default("known"))
    .addOption(
      new Option("--fire <which>", "conditional mode: steer every category the detector fires, or only the most confident")
        .choices([...FIRE_MODES])
        .default("all"),
    )
    .option("--raw-strength", "strengths multiply the raw vectors")
    .option("--judge <judge>", "toy | refusal-keywords | llm:<guard.gguf>", "refusal-keywords")
    .option("--seed <n>", "seed of prompt 0 (prompt i uses seed + i in every condition)", int("--seed"), 1)
    .option("-t, --temperature <t>", "sampling temperature", num("--temperature"), 0.8)
    .option("-n, --max-tokens <n>", "answer length limit", positiveInt("--max-tokens"), 64)
    .option("--stop <text...>", "strings that end an answer (e.g. the next turn's marker)")
    .option("--batch <n>", "prompts answered side by side", positiveInt("--batch"), 16)
    .addOption(new Option("--chat <mode>", "render prompts with the chat template").choices(["auto", "always", "never"]).default("auto"))
    .option("--force", "accept a bundle made for another file of the same shape")
    .option("--per-group <n>", "a seeded sample of at most n prompts per kind and category", positiveInt("--per-group"))
    .option(
      "--tuned-bundle <file>",
      "with --sweep: write the bundle with each category's chosen layer and strength (use it with --steer all)",
    )
    .option("--resume", "continue the run saved in the output file")
    .requiredOption("-o, --output <results.json>", "results file (written atomically after every batch)")
    .action(async (o: EvalCliOptions) => {
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
        const bundle = o.bundle ? readBundle(o.bundle) : undefined;
        if ((o.steer || o.sweep) && !bundle) throw new SafeSteerError("usage", "--steer and --sweep need --bundle.");
        const policy = o.steer && bundle ? policyOption(o.steer, bundle) : undefined;
        const conditions: ConditionSpec[] = [{ name: "unsteered", mode: "none" }];
        if (policy)
          conditions.push({
            name: "steered",
            mode: o.mode,
            policy,
            raw: o.rawStrength,
            ...(o.mode === "conditional" ? { fire: o.fire } : {}),
          });
        // --neurons: the steered condition also suppresses the units (per --mode, as the policy); alone, a condition of its own
        const neurons = neuronSuppression(o);
        const steered = conditions.find((c) => c.name === "steered");
        const sup = neurons.suppress ? { suppress: neurons.suppress, suppressMode: o.suppressMode } : undefined;
        if (sup && steered) Object.assign(steered, sup);
        else if (sup) conditions.push({ name: "suppressed", mode: o.mode, ...(o.mode === "conditional" ? { fire: o.fire } : {}), ...sup });
        if (o.sweep && bundle) {
          const s = parseSweep(o.sweep);
          const cats = policy ? Object.keys(policy) : [...bundle.categories.keys()];
          const layers = s.layers ?? [...new Set(cats.flatMap((c) => bundle.categories.get(c)?.steerLayers ?? []))];
          conditions.push(...sweepConditions(cats, layers, s.strengths, o.rawStrength));
        }
        let resume: EvalResults | undefined;
        if (o.resume && existsSync(o.output)) {
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
            JSON.stringify(resume.conditions) !== JSON.stringify(conditions)
          ) {
            throw new SafeSteerError(
              "usage",
              `${o.output} holds a different evaluation (other prompts or conditions); remove it or drop --resume.`,
            );
          }
        }
        const judge = makeJudge(o.judge, { toy: toyJudge });
        const ctx = new Context(model, { nCtx: o.ctx ?? 4096, nSeq: o.batch });
        const bar = progressBar("evaluating");
        const { signal, dispose } = interruptSignal();
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
            },
            conditions,
            chat: usesChat(model, o.chat),
            bundle,
            bundlePath: o.bundle,
            force: o.force,
            neurons: neurons.neurons,
            detector: bundle?.detector,
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
          if (o.sweep && bundle) {
            // per category: the least unsafe setting within the refusal, relevance and quality budgets
            const choices = selectPerCategory(results, "unsteered", DEFAULT_BUDGET);
            process.stdout.write(`\n${choicesTable(choices).join("\n")}\n`);
            save({ ...results, selection: choices });
            if (o.tunedBundle) {
              writeBundle(o.tunedBundle, applyChoices(bundle, choices));
              process.stderr.write(`wrote ${o.tunedBundle}\n`);
            }
          }
        } finally {
          bar.stop();
          dispose();
          judge.dispose?.();
          ctx.dispose();
          model.dispose();
        }
      } finally {
        lock.release();
      }
    });
}
