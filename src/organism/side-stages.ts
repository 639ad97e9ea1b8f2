// Entry of the study's second process (side-process.ts): opens the model as the parent did, tunes
// the comparisons, then, given the main bundle, runs the late stages (study.ts: startSideStages).
import { Context } from "../engine/context.js";
import { Model } from "../engine/model.js";
import type { Bundle } from "../steer/types.js";
import type { SideMessage } from "./side-process.js";
import { comparisonStage, lateStages, prepareStudy, type SideRequest } from "./study.js";

const send = (m: SideMessage) =>
  new Promise<void>((resolve) => {
    process.send?.(m, undefined, {}, () => resolve());
  });

/** The parent's messages, in order: the request, then { bundle }. */
const inbox: unknown[] = [];
let waiting: ((m: unknown) => void) | undefined;
process.on("message", (m) => {
  if (waiting) {
    waiting(m);
    waiting = undefined;
  } else inbox.push(m);
});
const next = () => (inbox.length > 0 ? Promise.resolve(inbox.shift()) : new Promise<unknown>((r) => (waiting = r)));

async function main(): Promise<void> {
  const req = (await next()) as SideRequest;
  const ac = new AbortController();
  // the parent gone (stopped, failed): stop too
  process.once("disconnect", () => ac.abort());
  try {
    const model = Model.load(req.model.path, { threads: req.model.threads, chatTemplate: req.model.chatTemplate });
    const ctx = new Context(model, req.context);
    try {
      const opts = { ...req.opts, signal: ac.signal, onStep: (msg: string) => void send({ type: "step", msg }) };
      const s = prepareStudy(ctx, req.files, opts);
      const comparisons = await comparisonStage(ctx, s, opts);
      await send({ type: "part", name: "comparisons", value: comparisons ?? null });
      const { bundle } = (await next()) as { bundle: Bundle };
      await send({ type: "part", name: "late", value: await lateStages(ctx, s, bundle, comparisons, opts) });
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

void main();
