import { type Command, Option } from "commander";
import type { Reduction } from "../../engine/capture.js";
import { Context } from "../../engine/context.js";
import { KNOWN_SITES } from "../../engine/sites.js";
import { renderExample } from "../../steer/render.js";
import { loadModel, type ModelOpts, parseLayers, withModelOptions } from "../options.js";

export function activationsCommand(program: Command): void {
  withModelOptions(program.command("activations").description("print activations of a text at a site and layers"), true)
    .requiredOption("--text <text>", "text to run")
    .option("--site <site>", `${KNOWN_SITES.join(" | ")} | a raw llama.cpp tensor name`, "resid_post")
    .option("--layers <list>", "all | 3 | 0,2,4 | 1-3", "all")
    .addOption(new Option("--reduce <how>", "reduction over tokens").choices(["mean", "last", "sum", "none"]).default("mean"))
    .option("--chat", "wrap the text in the model's chat template")
    .option("--json", "print JSON (the only format)", true)
    .action(async (o: ModelOpts & { text: string; site: string; layers: string; reduce: Reduction; chat?: boolean }) => {
      const model = loadModel(o);
      const layers = parseLayers(o.layers, model.info.nLayer);
      const ctx = new Context(model, { nCtx: o.ctx });
      try {
        const tokens = renderExample(model, { prompt: o.text }, Boolean(o.chat));
        const { capture } = await ctx.evaluate([tokens], { capture: { site: o.site, layers, reduce: o.reduce }, logits: "none" });
        const out: Record<string, number[] | number[][]> = {};
        for (const l of layers) {
          out[String(l)] = o.reduce === "none" ? capture!.rows(0, l).map((r) => Array.from(r)) : Array.from(capture!.reduced(0, l));
        }
        process.stdout.write(`${JSON.stringify({ model: model.info.path, site: o.site, tokens, layers: out })}\n`);
      } finally {
        ctx.dispose();
        model.dispose();
      }
    });
}
