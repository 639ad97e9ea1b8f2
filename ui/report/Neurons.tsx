// A neuron file: per category its top units (held-out AUROC, effect, means, logit-lens tokens), the
// specificity heat map across categories, and where the units sit by layer.
import type { NeuronData } from "../../src/web/report-types.js";
import { specificityChart, unitLayerChart } from "./neuron-charts.js";
import { PlotFigure } from "./PlotFigure.js";

const f = (x: number | null, d = 2) => (x === null ? "—" : x.toFixed(d));

export function NeuronSection({ n }: { n: NeuronData }) {
  return (
    <section class="neurons" aria-labelledby={`neurons-${n.name}`}>
      <h2 id={`neurons-${n.name}`}>Category neurons {n.name}</h2>
      <p class="meta">
        model {n.model} · site <code>mlp_post</code> · layers {n.layers.join(", ")} · top {n.top} units per category. {n.rule}.
      </p>
      <PlotFigure
        name="specificity"
        title="Specificity: AUROC of each category's units on every category"
        caption="Mean held-out AUROC of a category's units (rows) separating each category's unsafe prompts from safe ones (columns). A bright diagonal and pale rest: category-only units; a bright row: shared harm units."
        options={(w) => specificityChart(n, w)}
      />
      <PlotFigure
        name="unit-layers"
        title="Units per layer"
        caption="Where each category's top units sit."
        options={(w) => unitLayerChart(n, w)}
      />
      {n.categories.map((c) => (
        <div key={c.name} class="neuron-category">
          <h3>{c.name}</h3>
          <p class="meta">
            {c.nUnsafe} unsafe against {c.nSafe} safe examples
            {c.explained &&
              ` · the units explain ${(c.explained.share * 100).toFixed(1)}% of the category vector at layer ${c.explained.layer}`}
          </p>
          <table class="summary" data-category={c.name}>
            <thead>
              <tr>
                <th scope="col">unit (layer:index)</th>
                <th scope="col">held-out AUROC</th>
                <th scope="col">effect (d)</th>
                <th scope="col">mean unsafe</th>
                <th scope="col">mean safe</th>
                <th scope="col">promoted tokens (logit lens)</th>
              </tr>
            </thead>
            <tbody>
              {c.units.map((u) => (
                <tr key={`${u.layer}:${u.index}`}>
                  <th scope="row">
                    {u.layer}:{u.index}
                  </th>
                  <td>{f(u.auroc)}</td>
                  <td>{f(u.effect)}</td>
                  <td>{f(u.meanUnsafe, 3)}</td>
                  <td>{f(u.meanSafe, 3)}</td>
                  <td>
                    {u.lens.map((t, i) => (
                      <code key={i} class="token">
                        {JSON.stringify(t)}
                      </code>
                    ))}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
    </section>
  );
}
