// The detector's score per category as bars about its threshold (0: a category fires above it).
import type { SteeringDecision } from "../../src/server/api-types.js";
import { STEERED, UNSTEERED } from "../shared/palette.js";

const RANGE = 8; // scores are in benign prompts' standard deviations; bars are clipped at ±8

export function ScoreBars({ decision }: { decision: SteeringDecision }) {
  const scores = Object.entries(decision.scores ?? {});
  if (!scores.length) return null;
  const fired = new Set(decision.fired ?? []);
  return (
    <figure class="scores" aria-label="detector scores">
      <figcaption>Detector score per category (fires above the threshold line)</figcaption>
      <svg
        viewBox={`0 0 300 ${scores.length * 18 + 6}`}
        width="100%"
        height={scores.length * 18 + 6}
        role="img"
        aria-label="detector scores"
      >
        <line x1="150" x2="150" y1="0" y2={scores.length * 18} stroke="#333" stroke-dasharray="3 2" />
        {scores.map(([c, s], i) => {
          const clipped = Math.max(-RANGE, Math.min(RANGE, s));
          const w = (Math.abs(clipped) / RANGE) * 50;
          const x = clipped >= 0 ? 150 : 150 - w;
          return (
            <g key={c} class="score-bar" data-category={c} data-score={s.toFixed(3)}>
              <text x="0" y={i * 18 + 13} font-size="11">
                {c}
              </text>
              <rect x={x} y={i * 18 + 3} width={Math.max(w, 2)} height="12" fill={fired.has(c) ? STEERED : UNSTEERED} />
              <text x="296" y={i * 18 + 13} font-size="11" text-anchor="end">
                {`${s >= 0 ? "+" : ""}${s.toFixed(1)}${fired.has(c) ? " fired" : ""}`}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
