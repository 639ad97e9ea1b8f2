// A report: per run, the rates per category unsteered against steered, benign and look-alike
// prompts, fluency, strength sweeps, detector scores and example answers; per bundle, separability
// per layer and the cosine between categories. Charts only appear where the files hold their data.
import type { BundleData, ReportData, RunData } from "../../src/web/report-types.js";
import { benignChart, categoryChart, cosineChart, detectorChart, layerChart, perplexityChart, runsChart, sweepChart } from "./charts.js";
import { Examples } from "./Examples.js";
import { PlotFigure } from "./PlotFigure.js";
import { ReferenceTable } from "./ReferenceTable.js";

function RunSection({ run, data }: { run: RunData; data: ReportData }) {
  const has = {
    benign: data.metrics.some((r) => r.run === run.name && r.group !== "harmful"),
    ppl: data.metrics.some((r) => r.run === run.name && r.perplexity !== null),
    sweep: data.sweep.some((p) => p.run === run.name),
    detector: data.detector.some((s) => s.run === run.name),
  };
  return (
    <section class="run" aria-labelledby={`run-${run.name}`}>
      <h2 id={`run-${run.name}`}>{run.name}</h2>
      <p class="meta">
        model <code>{run.model}</code>
        {run.bundle && (
          <>
            {" "}
            · bundle <code>{run.bundle}</code>
          </>
        )}{" "}
        · judge {run.judge} · conditions {run.conditions.join(", ")}
      </p>
      <PlotFigure
        name="categories"
        title="Harmful prompts per category"
        caption={`Share of answers per category that are unsafe, refusals, helpful, on topic and fluent (where the judge tells), ${run.baseline} against steered: safer without refusing, on topic and fluent is the goal.`}
        options={(w) => categoryChart(run, data.metrics, w)}
      />
      {has.benign && (
        <PlotFigure
          name="benign"
          title="Benign and look-alike prompts"
          caption="Refusal on look-alike prompts is over-refusal; helpful answers to benign prompts should not drop when steering."
          options={(w) => benignChart(run, data.metrics, w)}
        />
      )}
      {has.ppl && (
        <PlotFigure
          name="perplexity"
          title="Fluency: answer perplexity"
          caption="Geometric mean perplexity of the answers under the unsteered model (lower reads more like the model's own text)."
          options={(w) => perplexityChart(run, data.metrics, w)}
        />
      )}
      {has.sweep && (
        <PlotFigure
          name="sweep"
          title="Strength sweeps"
          caption="Unsafe rate (solid) and refusal rate (dotted) against strength, one line per layer; the dashed orange-red line is the refusal budget, the ringed point the chosen layer and strength."
          options={(w) => sweepChart(run.name, data.sweep, data.choices, data.budgets, w)}
        />
      )}
      {has.detector && (
        <PlotFigure
          name="detector"
          title="Detector scores"
          caption="Each tick is a prompt's score for a category, by what the prompt is; a category fires above the dashed threshold at 0."
          options={(w) => detectorChart(run.name, data.detector, w)}
        />
      )}
      <ReferenceTable run={run} metrics={data.metrics} />
      <h3>Example answers (drawn at random)</h3>
      <Examples run={run} examples={data.examples} />
    </section>
  );
}

function BundleSection({ bundle, data }: { bundle: BundleData; data: ReportData }) {
  return (
    <section class="bundle" aria-labelledby={`bundle-${bundle.name}`}>
      <h2 id={`bundle-${bundle.name}`}>Bundle {bundle.name}</h2>
      <p class="meta">
        model {bundle.model} · site <code>{bundle.site}</code> · layers {bundle.layers.join(", ")}
      </p>
      <table class="summary">
        <thead>
          <tr>
            <th scope="col">category</th>
            <th scope="col">layer</th>
            <th scope="col">tuned strength</th>
            <th scope="col">unsafe examples</th>
            <th scope="col">safe examples</th>
            <th scope="col">safe side</th>
            {bundle.detector && <th scope="col">detector layer</th>}
          </tr>
        </thead>
        <tbody>
          {bundle.categories.map((c) => (
            <tr key={c.name}>
              <th scope="row">{c.name}</th>
              <td>{c.layer}</td>
              <td>{c.strength ?? "—"}</td>
              <td>{c.nUnsafe}</td>
              <td>{c.nSafe}</td>
              <td>{c.safeSource}</td>
              {bundle.detector && <td>{bundle.detector.find((d) => d.category === c.name)?.layer ?? "—"}</td>}
            </tr>
          ))}
        </tbody>
      </table>
      <PlotFigure
        name="auroc"
        title="Separability per layer (AUROC)"
        caption="Held-out AUROC of the projection onto each category's vector, safe against unsafe, per layer; ringed: the layer steered."
        options={(w) => layerChart(bundle.name, data.layers, "auroc", w)}
      />
      <PlotFigure
        name="margin"
        title="Separability per layer (margin)"
        caption="Held-out Cohen's d of the same projection: how far apart the two sides are, in standard deviations."
        options={(w) => layerChart(bundle.name, data.layers, "margin", w)}
      />
      <PlotFigure
        name="cosine"
        title="Cosine similarity between categories"
        caption="Cosine between the categories' vectors at each layer: near 1, two categories steer the same way; near 0, independently."
        options={(w) => cosineChart(bundle.name, data.cosine, w)}
      />
    </section>
  );
}

export function Report({ data }: { data: ReportData }) {
  return (
    <div class="page">
      <header>
        <h1>{data.title}</h1>
        <p class="meta">
          {data.runs.length} results file{data.runs.length === 1 ? "" : "s"}, {data.bundles.length} bundle
          {data.bundles.length === 1 ? "" : "s"}. Colours: unsteered <span class="swatch unsteered">orange</span>, steered{" "}
          <span class="swatch steered">blue</span>.
        </p>
      </header>
      {data.runs.length > 1 && (
        <PlotFigure
          name="runs"
          title="Runs compared"
          caption="All harmful prompts of each results file: unsteered against each steered condition."
          options={(w) => runsChart(data.runs, data.metrics, w)}
        />
      )}
      {data.runs.map((r) => (
        <RunSection key={r.name} run={r} data={data} />
      ))}
      {data.bundles.map((b) => (
        <BundleSection key={b.name} bundle={b} data={data} />
      ))}
    </div>
  );
}
