// Entry of the study's second process (side-process.ts): opens the model as the parent did and runs
// the stages that need nothing from the main variant (study.ts: independentStages).
import { Context } from "../engine/context.js";
import { Model } from "../engine/model.js";
import type { SideMessage } from "./side-process.js";
import { type IndependentResults, independentStages, prepareStudy, type SideRequest } from "./study.js";

const send = (m: SideMessage<IndependentResults>) =>
  new Promise<void>((resolve) => {
    process.send?.(m, undefined, {}, () => resolve());
  });

async function main(req: SideRequest): Promise<void> {
  const ac = new AbortController();
  // the parent gone (stopped, failed): stop too
  process.once("disconnect", () => ac.abort());
  try {
    const model = Model.load(req.model.path, { threads: req.model.threads, chatTemplate: req.model.chatTemplate });
    const ctx = new Context(model, req.context);
    try {
      const s = prepareStudy(ctx, req.files, { ...req.opts, signal: ac.signal });
      const result = await independentStages(ctx, s, { ...req.opts, signal: ac.signal, onStep: (msg) => void send({ type: "step", msg }) });
      await send({ type: "done", result });
    } finally {
      ctx.dispose();
      model.dispose();
    }
  } catch (e) {
    const code = typeof (e as { code?: unknown }).code === "string" ? (e as { code: string }).code : "internal";
    await send({ type: "error", code, message: e instanceof Error ? e.message : String(e) });
  }
  if (process.connected) process.disconnect();
}

process.once("message", (req: SideRequest) => void main(req));
