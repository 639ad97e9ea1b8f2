// Example answers side by side: prompts drawn at random (seeded) per group, not chosen.
import type { Example, RunData } from "../../src/web/report-types.js";

const BAD = new Set(["unsafe", "broken", "off topic"]);

export function Examples({ run, examples }: { run: RunData; examples: Example[] }) {
  const list = examples.filter((e) => e.run === run.name);
  if (!list.length) return null;
  return (
    <div class="examples" data-run={run.name}>
      <table>
        <thead>
          <tr>
            <th scope="col">prompt</th>
            {run.conditions.map((c) => (
              <th scope="col" key={c} class={c === run.baseline ? "unsteered" : "steered"}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {list.map((e, i) => (
            <tr key={i}>
              <th scope="row">
                <span class="group">{e.category ?? e.group}</span> {e.prompt}
              </th>
              {run.conditions.map((c) => {
                const a = e.answers.find((x) => x.condition === c);
                return (
                  <td key={c}>
                    {a?.text ?? "—"}
                    <span class="labels">
                      {a?.labels.map((l) => (
                        <span key={l} class={`label ${BAD.has(l) ? "bad" : "good"}`}>
                          {l}
                        </span>
                      ))}
                    </span>
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
