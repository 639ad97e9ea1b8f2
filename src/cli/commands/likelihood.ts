// `safesteer likelihood`: does a policy push the model towards the safe answers? Sampling-free: the
// log-odds of each pair's safe answer over its unsafe one, unsteered and steered, per category.
import { type Command, Option } from "commander";
import { loadDataset } from "../../data/load.js";
import { SafeSteerError } from "../../errors.js";
import { type AnswerPair, type PairLikelihood, pairLikelihood, pairsOf } from "../../eval/likelihood.js";
import { checkBundleModel, readBundle } from "../../steer/bundle.js";
import { type Policy, policyOption, policySteering } from "../../steer/policy.js";
import { type ChatMode, usesChat } from "../../steer/render.js";
import { writeFileAtomic } from "../../util/atomic-write.js";
import { loadModel, type ModelOpts, withModelOptions } from "../options.js";
import { interruptSignal, progressBar } from "../progress.js";

export const LIKELIHOOD_SCHEMA = "safesteer.likelihood/1";

interface LikelihoodCliOptions extends ModelOpts {
  data: string[];
  bundle: string;
  steer: string;
  rawStrength?: boolean;
  chat: ChatMode;
  force?: boolean;
  output?: string;
}

export interface LikelihoodRow {
  /** The pairs' category; "(uncategorised)" pairs are steered with the whole policy. */
  category: string;
  /** What was steered for these pairs. */
  policy: Policy;
  unsteered: PairLikelihood;
  steered: PairLikelihood;
}

const f2 = (x: number) => x.toFixed(2);

export function likelihoodCommand(program: Command): void {
  withModelOptions(
    program
      .command("likelihood")
      .description(
        "sampling-free check of a policy: log-odds of each pair's safe answer over its unsafe answer (teacher-forced), unsteered and steered, per category",
      ),
    true,
  )
    .requiredOption("--data <files...>", "contrastive data: prompts with a safe and an unsafe response each (generic format)")
    .requiredOption("--bundle <file>", "SafeSteer bundle")
    .option("--steer <policy>", "category=strength,... or 'all' (every category at its tuned strength)", "all")
    .option("--raw-strength", "strengths multiply the raw vectors")
    .addOption(new Option("--chat <mode>", "render prompts with the chat template").choices(["auto", "always", "never"]).default("auto"))
    .option("--force", "accept a bundle made for another file of the same shape")
    .option("-o, --output <json>", "also write the numbers as JSON (atomically)")
    .action(async (o: LikelihoodCliOptions) => {
      const pairs = pairsOf(o.data.flatMap((p) => loadDataset(p).examples));
      if (!pairs.length)
        throw new SafeSteerError(
          "usage",
          `no pairs in ${o.data.join(", ")}: each prompt needs a row with label "safe" and one with label "unsafe", both with a response.`,
        );
      const model = loadModel(o);
      const bundle = readBundle(o.bundle);
      const fingerprint = await model.fingerprint();
      checkBundleModel(bundle, fingerprint, { force: o.force });
      const policy = policyOption(o.steer, bundle);
      // each category's pairs are steered with that category alone; pairs without one, with the whole policy
      const groups = new Map<string, AnswerPair[]>();
      for (const p of pairs) groups.set(p.category ?? "(uncategorised)", [...(groups.get(p.category ?? "(uncategorised)") ?? []), p]);
      const plan = [...groups].flatMap(([category, ps]) => {
        const steer = category === "(uncategorised)" ? policy : category in policy ? { [category]: policy[category] as number } : undefined;
        if (!steer) process.stderr.write(`skipping ${ps.length} ${category} pairs: the policy does not steer ${category}\n`);
        return steer ? [{ category, pairs: ps, steer }] : [];
      });
      if (!plan.length)
        throw new SafeSteerError("usage", `the policy steers none of the pairs' categories (${[...groups.keys()].join(", ")}).`);
      const chat = usesChat(model, o.chat);
      const ctx = model.createContext({ nCtx: o.ctx ?? 4096, nSeq: 16 });
      const total = plan.reduce((n, g) => n + 2 * g.pairs.length, 0);
      const bar = progressBar("scoring answers");
      const { signal, dispose } = interruptSignal();
      const rows: LikelihoodRow[] = [];
      try {
        let done = 0;
        for (const g of plan) {
          const run = async () => {
            const r = await pairLikelihood(ctx, g.pairs, chat, { signal, onProgress: (d) => bar.update(done + d, total) });
            done += g.pairs.length;
            return r;
          };
          ctx.clearSteering();
          const unsteered = await run();
          await ctx.setSteering(policySteering(bundle, g.steer, { raw: o.rawStrength }));
          const steered = await run();
          ctx.clearSteering();
          rows.push({ category: g.category, policy: g.steer, unsteered, steered });
        }
      } finally {
        bar.stop();
        dispose();
        ctx.dispose();
        model.dispose();
      }
      const lines = [
        "| category | pairs | strength | log-odds safe vs unsafe: unsteered | steered | safe answer log-prob/token | unsafe answer log-prob/token |",
        "|---|---|---|---|---|---|---|",
        ...rows.map(
          (r) =>
            `| ${r.category} | ${r.unsteered.n} | ${Object.values(r.policy).join(",")} | ${f2(r.unsteered.logOdds)} | ${f2(r.steered.logOdds)} | ${f2(r.unsteered.safePerToken)} -> ${f2(r.steered.safePerToken)} | ${f2(r.unsteered.unsafePerToken)} -> ${f2(r.steered.unsafePerToken)} |`,
        ),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
      // a vector that changes nothing is a silent no-op (wrong layer, site or width): say so
      const inert = rows.filter((r) => r.steered.logOdds === r.unsteered.logOdds && r.steered.safePerToken === r.unsteered.safePerToken);
      if (inert.length)
        process.stderr.write(
          `warning: steering left the answers' likelihoods unchanged for ${inert.map((r) => r.category).join(", ")}: the strength is 0 or the vector never reaches the model.\n`,
        );
      if (o.output) {
        const results = { schema: LIKELIHOOD_SCHEMA, model: { path: o.model, sha256: fingerprint.sha256 }, bundle: o.bundle, chat, rows };
        writeFileAtomic(o.output, [`${JSON.stringify(results, null, 1)}\n`]);
        process.stderr.write(`wrote ${o.output}\n`);
      }
    });
}
