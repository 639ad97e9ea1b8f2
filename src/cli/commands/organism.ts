import { existsSync } from "node:fs";
import { availableParallelism } from "node:os";
import type { Command } from "commander";
import { Context } from "../../engine/context.js";
import { SafeSteerError } from "../../errors.js";
import { DEFAULT_MODEL, STORIES_MODEL } from "../../models.js";
import { ORGANISM_DATA_DIR, writeOrganismFiles } from "../../organism/files.js";
import { writeDemoOutputs } from "../../organism/outputs.js";
import { studyExamples, studyReport } from "../../organism/report.js";
import { runStudy } from "../../organism/study.js";
import { DEFAULT_ORGANISM_CONFIG, trainOrganism } from "../../organism/train.js";
import { checkOutputDir, checkOutputPath, loadModel, positiveInt } from "../options.js";
import { interruptSignal } from "../progress.js";

export function organismCommand(program: Command): void {
  const org = program.command("organism").description("the toy-world model organism");
  org
    .command("train")
    .description(
      "train every weight of stories260K on the toy world (runs tools/organism-train/train.py: needs python3 with PyTorch, e.g. apt-get install python3-torch)",
    )
    .option("--base <gguf>", "converted stories260K", STORIES_MODEL)
    .option("-o, --output <gguf>", "trained model", DEFAULT_MODEL)
    .option("--epochs <n>", "epochs", positiveInt("--epochs"), DEFAULT_ORGANISM_CONFIG.epochs)
    .action(async (o: { base: string; output: string; epochs: number }) => {
      checkOutputPath(o.output);
      if (!existsSync(o.base)) throw new SafeSteerError("usage", `base model ${o.base} not found; make it with safesteer convert llama2c.`);
      const { signal, dispose } = interruptSignal();
      try {
        const r = await trainOrganism(
          o.base,
          o.output,
          { ...DEFAULT_ORGANISM_CONFIG, epochs: o.epochs },
          {
            signal,
            // the trainer reports once per epoch (under a minute each here): the ETA from the pace so far
            onEpoch: (e) =>
              process.stderr.write(
                `epoch ${e.epoch}/${o.epochs}: train loss ${e.trainLoss.toFixed(3)}, validation loss ${e.valLoss.toFixed(3)} (${e.seconds.toFixed(0)} s, about ${((e.seconds / e.epoch) * (o.epochs - e.epoch)).toFixed(0)} s left)\n`,
              ),
          },
        );
        if (r.stopped)
          throw new SafeSteerError("aborted", `training stopped after ${r.epochs.length} of ${o.epochs} epochs; nothing was written.`);
        process.stderr.write(
          `wrote ${o.output} (${r.dialogues} dialogues, ${r.trainTokens} tokens, ${r.answerTokens} answer tokens, ${r.seconds.toFixed(0)} s)\n`,
        );
      } finally {
        dispose();
      }
    });
  org
    .command("data")
    .description("write the toy world's data files (vectors, training prompts, held-out prompts) in the generic format")
    .option("-o, --output <dir>", "folder", ORGANISM_DATA_DIR)
    .action((o: { output: string }) => {
      checkOutputDir(o.output);
      const f = writeOrganismFiles(o.output, DEFAULT_ORGANISM_CONFIG.world);
      process.stderr.write(`wrote ${Object.values(f).join(", ")}\n`);
    });
}

export function demoCommand(program: Command): void {
  program
    .command("demo")
    .description("SafeSteer end to end on the embedded organism: build, tune, steer, evaluate, compare")
    .option("-m, --model <gguf>", "organism model", DEFAULT_MODEL)
    .option("--quick", "fewer prompts and no comparison table")
    .option("--out <dir>", "where results.json, report.md and the bundle go", "reports/organism")
    .action(async (o: { model: string; quick?: boolean; out: string }) => {
      checkOutputDir(o.out, "--out");
      const model = loadModel({ model: o.model });
      const ctx = new Context(model, { nCtx: 4096, nSeq: 16 });
      const { signal, dispose } = interruptSignal();
      let stage = "starting";
      const t0 = Date.now();
      try {
        let s: Awaited<ReturnType<typeof runStudy>>;
        try {
          s = await runStudy(ctx, {
            testPerGroup: o.quick ? 8 : undefined,
            sweepPerCategory: o.quick ? 8 : undefined,
            comparisons: !o.quick,
            // the comparison tuning and the neuron study on the second core (same numbers)
            parallel: availableParallelism() > 1,
            signal,
            onStep: (m) => {
              stage = m.split(":")[0] as string;
              process.stderr.write(`- [${((Date.now() - t0) / 1000).toFixed(0)} s] ${m}\n`);
            },
          });
        } catch (e) {
          // the stages' own messages speak of files the demo never keeps: say what the demo did
          if (e instanceof SafeSteerError && e.code === "aborted")
            throw new SafeSteerError("aborted", `the demo stopped while ${stage}; nothing was written to ${o.out}.`);
          throw e;
        }
        const report = studyReport(s);
        process.stdout.write(`\nHeld-out prompts, unsteered vs steered:\n\n${studyExamples(s)}\n\n${report}\n`);
        // reproducible byte for byte: paths relative to --out, no creation time (the files are committed)
        const written = writeDemoOutputs(o.out, s);
        process.stderr.write(`wrote ${written.join(", ")}\n`);
      } finally {
        dispose();
        ctx.dispose();
        model.dispose();
      }
    });
}
