// A user's TypeScript, type-checked against the installed package's .d.ts (never run).
import {
  type Bundle,
  Context,
  DEFAULT_MODEL,
  type GenerationResult,
  generate,
  Model,
  type Policy,
  readBundle,
  SafeSteerError,
  type SteeringSource,
  steer,
} from "safesteer";

export async function answer(bundlePath: string, question: string, policy: Policy | "all"): Promise<GenerationResult> {
  const model = Model.load(DEFAULT_MODEL, { threads: 1, gpu: "cpu" });
  const ctx = new Context(model, { nCtx: 512 });
  const bundle: Bundle = readBundle(bundlePath);
  const source: SteeringSource = { bundle, policy };
  try {
    using _steering = await steer(ctx, source);
    const prompt = model.tokenize(model.applyChatTemplate([{ role: "user", content: question }]), { parseSpecial: true });
    return await generate(ctx, prompt, { maxTokens: 32, temperature: 0.8, seed: 1 });
  } catch (e) {
    if (e instanceof SafeSteerError) throw new Error(`${e.code}: ${e.message}`);
    throw e;
  } finally {
    ctx.dispose();
    model.dispose();
  }
}
