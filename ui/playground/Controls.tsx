// The settings panel: bundle, a strength slider per category, conditional mode, sampling.
import type { BundleSummary } from "../../src/server/api-types.js";
import type { PlaygroundState } from "./url-state.js";

/** Slider range for a bundle: up to twice its largest tuned (or recommended) strength. */
export function sliderRange(b: BundleSummary): { max: number; step: number } {
  const top = Math.max(b.recommendedStrength, ...Object.values(b.strengths).map((s) => s ?? 0));
  if (b.relative) return { max: Math.max(1, Math.ceil(top * 4) / 2), step: 0.025 };
  const max = top > 0 ? top * 2 : 1;
  return { max, step: max / 80 };
}

interface Props {
  state: PlaygroundState;
  bundles: BundleSummary[];
  set(patch: Partial<PlaygroundState>): void;
  pickBundle(name: string): void;
}

export function Controls({ state, bundles, set, pickBundle }: Props) {
  const bundle = bundles.find((b) => b.name === state.bundle);
  const range = bundle ? sliderRange(bundle) : { max: 1, step: 0.025 };
  // on every keystroke, not on blur: a number typed and sent at once is the number sent
  const num = (field: "temperature" | "topP" | "maxTokens" | "seed") => (e: Event) => {
    const raw = (e.currentTarget as HTMLInputElement).value;
    const v = Number(raw);
    if (raw.trim() !== "" && Number.isFinite(v)) set({ [field]: v });
  };
  return (
    <aside class="controls">
      <fieldset>
        <legend>Steering</legend>
        {bundles.length > 0 && (
          <label>
            Bundle
            <select value={state.bundle} onChange={(e) => pickBundle((e.currentTarget as HTMLSelectElement).value)}>
              {bundles.map((b) => (
                <option key={b.name} value={b.name}>
                  {b.name}
                </option>
              ))}
            </select>
          </label>
        )}
        {!bundle && <p class="hint">No bundle is loaded: start the server with --bundle to steer.</p>}
        {bundle?.categories.map((c) => {
          const v = state.policy[c] ?? 0;
          const id = `strength-${c}`;
          return (
            <div class="slider" key={c}>
              <label for={id}>{c}</label>
              <input
                id={id}
                type="range"
                min={0}
                max={range.max}
                step={range.step}
                value={v}
                aria-label={`strength for ${c}`}
                onInput={(e) => set({ policy: { ...state.policy, [c]: Number((e.currentTarget as HTMLInputElement).value) } })}
              />
              <output for={id}>{v.toFixed(3)}</output>
            </div>
          );
        })}
        {bundle && (
          <p class="hint">
            {bundle.relative ? "Strength: the added vector's norm over the mean activation norm." : "Raw strength (imported vectors)."}{" "}
            Moving a slider re-runs the steered answer.
          </p>
        )}
        <label class="check">
          <input
            type="checkbox"
            checked={state.conditional}
            disabled={!bundle?.detector}
            onChange={(e) => set({ conditional: (e.currentTarget as HTMLInputElement).checked })}
          />
          Conditional: steer only the categories the detector finds in the prompt
        </label>
        {!bundle?.detector && bundle && <p class="hint">This bundle has no detector (calibrate one with safesteer detector).</p>}
        {state.conditional && (
          <label>
            Fire
            <select value={state.fire} onChange={(e) => set({ fire: (e.currentTarget as HTMLSelectElement).value as "all" | "top" })}>
              <option value="all">every category that fires</option>
              <option value="top">only the most confident</option>
            </select>
          </label>
        )}
      </fieldset>
      <fieldset>
        <legend>Sampling (same seed for both answers)</legend>
        <label>
          Temperature
          <input type="number" min={0} max={2} step={0.05} value={state.temperature} onInput={num("temperature")} />
        </label>
        <label>
          Top p
          <input type="number" min={0} max={1} step={0.01} value={state.topP} onInput={num("topP")} />
        </label>
        <label>
          Max tokens
          <input type="number" min={1} step={1} value={state.maxTokens} onInput={num("maxTokens")} />
        </label>
        <label>
          Seed
          <input type="number" min={0} step={1} value={state.seed} onInput={num("seed")} />
        </label>
      </fieldset>
    </aside>
  );
}
