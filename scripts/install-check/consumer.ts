// A user's TypeScript, type-checked against the installed package's .d.ts (never run).
import {
  type Bundle,
  Context,
  DEFAULT_MODEL,
  type GenerationResult,
  generate,
  loadEngine,
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
    const prompt = model.tokenizeChat([{ role: "user", content: question }]);
    return await generate(ctx, prompt, { maxTokens: 32, temperature: 0.8, seed: 1 });
  } catch (e) {
    if (e instanceof SafeSteerError) throw new Error(`${e.code}: ${e.message}`);
    throw e;
  } finally {
    ctx.dispose();
    model.dispose();
  }
}

/** The engine object: one llama.cpp per process, models loaded on it, its log routed. */
export async function engineAnswer(modelPath: string, question: string): Promise<string> {
  const lines: string[] = [];
  const engine = await loadEngine({ gpu: "cpu", log: (level, text) => (level === "error" ? lines.push(text) : undefined) });
  const model = await engine.loadModel(modelPath, { threads: 1 });
  const ctx = new Context(model, { nCtx: 256 });
  try {
    const result = await generate(ctx, model.tokenizeChat([{ role: "user", content: question }]), { maxTokens: 16, temperature: 0 });
    return `${engine.info().backend}: ${result.text} (${lines.length} error lines)`;
  } finally {
    ctx.dispose();
    model.dispose();
  }
}
