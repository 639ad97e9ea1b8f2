// `safesteer likelihood`: does a policy push the model towards the safe answers? Sampling-free: the
// log-odds of each pair's safe answer over its unsafe one, unsteered and steered, per category.
import { type Command, Option } from "commander";
import { Context } from "../../engine/context.js";
import { SafeSteerError } from "../../errors.js";
import { categoryLikelihoods, pairsOf } from "../../eval/likelihood.js";
import { likelihoodTable } from "../../eval/report.js";
import { readBundle } from "../../steer/bundle.js";
import { policyOption } from "../../steer/policy.js";
import { type ChatMode, usesChat } from "../../steer/render.js";
import { writeFileAtomic } from "../../util/atomic-write.js";
import { type NeuronCliOptions, neuronSuppression, withNeuronOptions } from "../neuron-options.js";
import { checkOutputPath, type DataOpts, loadData, loadModel, type ModelOpts, withDataOptions, withModelOptions } from "../options.js";
import { interruptSignal, progressBar } from "../progress.js";

export const LIKELIHOOD_SCHEMA = "safesteer.likelihood/1";

interface LikelihoodCliOptions extends ModelOpts, DataOpts, NeuronCliOptions {
  data: string[];
  bundle?: string;
  steer: string;
  rawStrength?: boolean;
  chat: ChatMode;
  force?: boolean;
  output?: string;
}

export function likelihoodCommand(program: Command): void {
  withNeuronOptions(
    withDataOptions(
      withModelOptions(
        program
          .command("likelihood")
          .description(
            "sampling-free check of a policy: log-odds of each pair's safe answer over its unsafe answer (teacher-forced), unsteered and steered, per category",
          ),
        true,
      ),
    ),
  )
    .requiredOption("--data <files...>", "contrastive data: prompts with a safe and an unsafe response each (generic format)")
    .option("--bundle <file>", "SafeSteer bundle (or --neurons and --suppress, or both)")
    .option("--steer <policy>", "category=strength,... or 'all' (every category at its tuned strength)", "all")
    .option("--raw-strength", "strengths multiply the raw vectors")
    .addOption(new Option("--chat <mode>", "render prompts with the chat template").choices(["auto", "always", "never"]).default("auto"))
    .option("--force", "accept a bundle made for another file of the same shape")
    .option("-o, --output <json>", "also write the numbers as JSON (atomically)")
    .action(async (o: LikelihoodCliOptions) => {
      if (o.output) checkOutputPath(o.output);
      const pairs = pairsOf(o.data.flatMap((p) => loadData(p, o).examples));
      if (!pairs.length)
        throw new SafeSteerError(
          "usage",
          `no pairs in ${o.data.join(", ")}: each prompt needs a row with label "safe" and one with label "unsafe", both with a response.`,
        );
      const model = loadModel(o);
      const neurons = { ...neuronSuppression(o), forceNeurons: o.force };
      if (!o.bundle && !neurons.neurons)
        throw new SafeSteerError("usage", "likelihood needs --bundle, or --neurons and --suppress, or both.");
      const bundle = o.bundle ? readBundle(o.bundle) : undefined;
      const policy = bundle ? policyOption(o.steer, bundle) : {};
      const chat = usesChat(model, o.chat);
      const { sha256 } = await model.fingerprint();
      const ctx = new Context(model, { nCtx: o.ctx ?? 4096, nSeq: 16 });
      const bar = progressBar("scoring answers");
      const { signal, dispose } = interruptSignal();
      let result: Awaited<ReturnType<typeof categoryLikelihoods>>;
      try {
        result = await categoryLikelihoods(ctx, bundle, pairs, policy, {
          chat,
          raw: o.rawStrength,
          force: o.force,
          neurons,
          signal,
          onProgress: (d, t) => bar.update(d, t),
        });
      } finally {
        bar.stop();
        dispose();
        ctx.dispose();
        model.dispose();
      }
      const { rows, skipped } = result;
      for (const s of skipped) process.stderr.write(`skipping ${s.n} ${s.category} pairs: the policy does not steer ${s.category}\n`);
      if (!rows.length)
        throw new SafeSteerError(
          "usage",
          `the policy steers none of the pairs' categories (${skipped.map((s) => s.category).join(", ")}).`,
        );
      process.stdout.write(`${likelihoodTable(rows).join("\n")}\n`);
      // a vector that changes nothing is a silent no-op (wrong layer, site or width): say so
      const inert = rows.filter((r) => r.steered.logOdds === r.unsteered.logOdds && r.steered.safePerToken === r.unsteered.safePerToken);
      if (inert.length)
        process.stderr.write(
          `warning: steering left the answers' likelihoods unchanged for ${inert.map((r) => r.category).join(", ")}: the strength is 0 or the vector never reaches the model.\n`,
        );
      if (o.output) {
        const results = { schema: LIKELIHOOD_SCHEMA, model: { path: o.model, sha256 }, bundle: o.bundle, chat, rows };
        writeFileAtomic(o.output, [`${JSON.stringify(results, null, 1)}\n`]);
        process.stderr.write(`wrote ${o.output}\n`);
      }
    });
}
