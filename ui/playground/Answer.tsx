// One answer column: the text as it streams, then the audit of what was steered and why.
import type { SteeringDecision } from "../../src/server/api-types.js";
import { ScoreBars } from "./ScoreBars.js";

export interface AnswerState {
  text: string;
  /** stopped: a newer prompt took the column before this answer finished. */
  status: "waiting" | "streaming" | "done" | "error" | "stopped";
  decision?: SteeringDecision;
  finish?: string;
  error?: string;
}

export function Answer({ kind, answer }: { kind: "unsteered" | "steered"; answer: AnswerState }) {
  const d = answer.decision;
  return (
    <section class={`answer ${kind}`} data-kind={kind} data-status={answer.status} aria-busy={answer.status === "streaming"}>
      <h3>{kind === "steered" ? "Steered" : "Unsteered"}</h3>
      <p class="text" aria-live="polite">
        {answer.text || (answer.status === "waiting" || answer.status === "streaming" ? "…" : "")}
      </p>
      {answer.status === "stopped" && <p class="hint">Stopped: a newer prompt took this column.</p>}
      {answer.error && (
        <p class="answer-error" role="alert">
          {answer.error}
        </p>
      )}
      {d && (
        <details class="audit">
          <summary>
            Audit: {d.mode}
            {d.steered.length ? `, steered ${[...new Set(d.steered.map((s) => s.category))].join(", ")}` : ", nothing steered"}
            {answer.finish ? ` · ${answer.finish}` : ""}
          </summary>
          <dl>
            <dt>bundle</dt>
            <dd>{d.bundle ?? "none"}</dd>
            <dt>mode</dt>
            <dd>{d.mode}</dd>
            {d.fired && (
              <>
                <dt>fired</dt>
                <dd>{d.fired.length ? d.fired.join(", ") : "nothing"}</dd>
              </>
            )}
            <dt>steered</dt>
            <dd>
              {d.steered.length
                ? d.steered.map((s) => `${s.category} (layer ${s.layer}, strength ${+s.strength.toFixed(4)})`).join("; ")
                : "nothing"}
            </dd>
          </dl>
        </details>
      )}
      {d?.scores && !answer.error && <ScoreBars decision={d} />}
    </section>
  );
}
