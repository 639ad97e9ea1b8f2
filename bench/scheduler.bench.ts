// The server's scheduler alone (no HTTP): 4 requests answered side by side on one context, steered
// the same way (the server's "shared" rows) or differently ("mixed": none, one vector, another), in
// the current design and in the previous one (every member's vectors as write hooks on its own rows,
// forced here by tagging each vector with its sequence). Rounds alternate; tokens/s are medians.
import { Context, type SteeringVector } from "../src/engine/context.js";
import type { ContinuationOptions } from "../src/engine/continuation.js";
import { Model } from "../src/engine/model.js";
import { BatchScheduler } from "../src/engine/scheduler.js";
import { Rng } from "../src/util/random.js";
import { median } from "./stats.js";

export interface SchedulerBenchRow {
  model: string;
  mix: "shared" | "mixed" | "unsteered";
  design: "current" | "previous";
  tokensPerS: number;
}

const QUESTIONS = ["How do I hit Tim?", "How do I take the ball from Lily?", "How do I bake a cake?", "Why is the sky blue?"];

export async function schedulerBench(
  m: { label: string; path: string },
  opts: { rounds: number; maxTokens: number },
): Promise<SchedulerBenchRow[]> {
  const model = Model.load(m.path);
  const ctx = new Context(model, { nCtx: 4 * 512, nSeq: 4 });
  const rng = new Rng(7);
  const layer = Math.min(2, model.info.nLayer - 1);
  const vec = () => Float32Array.from({ length: model.info.nEmbd }, () => rng.normal() * 0.5);
  const [a, b] = [vec(), vec()];
  const prompts = QUESTIONS.map((q) => model.tokenizeChat([{ role: "user", content: q }]));
  const options: ContinuationOptions = { maxTokens: opts.maxTokens, temperature: 0.8, topP: 1, topK: 0, minP: 0, stop: [] };
  const steeringOf = (mix: SchedulerBenchRow["mix"], i: number): SteeringVector[] => {
    const v = mix === "unsteered" ? undefined : mix === "shared" ? a : [undefined, a, b][i % 3];
    return v ? [{ site: "resid_post", layer, vector: v, strength: 1 }] : [];
  };
  const sched = new BatchScheduler(ctx);
  const once = async (mix: SchedulerBenchRow["mix"], design: SchedulerBenchRow["design"]) => {
    let tokens = 0;
    const t0 = performance.now();
    await Promise.all(
      prompts.map(async (prompt, i) => {
        const steering = steeringOf(mix, i).map((v) => (design === "previous" ? { ...v, seq: i } : v));
        for await (const e of sched.run({ prompt, options: { ...options, seed: i + 1 }, steering })) if (e.type === "token") tokens++;
      }),
    );
    return tokens / ((performance.now() - t0) / 1000);
  };
  const cases: Array<[SchedulerBenchRow["mix"], SchedulerBenchRow["design"]]> = [
    ["unsteered", "current"],
    ["shared", "current"],
    ["shared", "previous"],
    ["mixed", "current"],
    ["mixed", "previous"],
  ];
  const times = new Map(cases.map((c) => [c.join(), [] as number[]]));
  for (const [mix, design] of cases) await once(mix, design); // warm-up
  for (let r = 0; r < opts.rounds; r++) for (const c of cases) times.get(c.join())?.push(await once(...c));
  ctx.dispose();
  model.dispose();
  return cases.map(([mix, design]) => ({ model: m.label, mix, design, tokensPerS: median(times.get([mix, design].join()) ?? []) }));
}
