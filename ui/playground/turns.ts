// The chat: each prompt answered twice for the same seed, unsteered and steered. By default every
// prompt is sent on its own, as one API request is; with `conversation` each column sends its own
// history, of its finished answers only (a failed or stopped answer never enters it).
import { useRef, useState } from "preact/hooks";
import type { BundleSummary } from "../../src/server/api-types.js";
import type { AnswerState } from "./Answer.js";
import { type ChatMessage, streamChat } from "./api.js";
import { type Kind, steeringFor } from "./steering.js";
import type { PlaygroundState } from "./url-state.js";

export interface Turn {
  prompt: string;
  unsteered: AnswerState;
  steered: AnswerState;
}

/** The messages a column sends for turn i: the prompt alone, or after that column's finished turns. */
export function messagesFor(turns: Turn[], i: number, kind: Kind, conversation: boolean): ChatMessage[] {
  const history = conversation ? turns.slice(0, i).filter((t) => t[kind].status === "done") : [];
  return [
    ...history.flatMap((t) => [
      { role: "user" as const, content: t.prompt },
      { role: "assistant" as const, content: t[kind].text },
    ]),
    { role: "user", content: turns[i]?.prompt ?? "" },
  ];
}

interface Live {
  apiKey: string;
  state: PlaygroundState;
  bundles: BundleSummary[];
}

export function useChat(current: Live) {
  const [turns, setTurns] = useState<Turn[]>([]);
  const live = useRef({ ...current, turns });
  live.current = { ...current, turns };
  // the request each column is running, and for which turn
  const running = useRef<Partial<Record<Kind, { ctl: AbortController; turn: number }>>>({});

  const update = (i: number, kind: Kind, patch: Partial<AnswerState>) =>
    setTurns((ts) => ts.map((t, k) => (k === i ? { ...t, [kind]: { ...t[kind], ...patch } } : t)));

  async function run(kind: Kind, i: number, ts: Turn[]) {
    const { state: s, bundles, apiKey } = live.current;
    if (!ts[i]) return;
    running.current[kind]?.ctl.abort();
    const ctl = new AbortController();
    running.current[kind] = { ctl, turn: i };
    update(i, kind, { text: "", status: "waiting", error: undefined, decision: undefined, finish: undefined });
    let text = "";
    try {
      const finish = await streamChat(
        messagesFor(ts, i, kind, s.conversation),
        { temperature: s.temperature, topP: s.topP, maxTokens: s.maxTokens, seed: s.seed },
        steeringFor(
          kind,
          s,
          bundles.find((b) => b.name === s.bundle),
        ),
        apiKey,
        ctl.signal,
        {
          onDecision: (decision) => update(i, kind, { decision, status: "streaming" }),
          onText: (t) => {
            text += t;
            update(i, kind, { text, status: "streaming" });
          },
        },
      );
      if (!ctl.signal.aborted) update(i, kind, { status: "done", finish });
    } catch (e) {
      // stopped for a newer turn: this one is left as it stands (a re-run of the same turn owns it)
      if (ctl.signal.aborted) {
        if (running.current[kind]?.turn !== i) update(i, kind, { status: "stopped" });
        return;
      }
      update(i, kind, { status: "error", error: e instanceof Error ? e.message : String(e) });
    }
  }

  return {
    turns,
    /** Answers a new prompt in both columns. */
    send(prompt: string) {
      const blank: AnswerState = { text: "", status: "waiting" };
      const ts = [...live.current.turns, { prompt, unsteered: blank, steered: blank }];
      setTurns(ts);
      run("unsteered", ts.length - 1, ts);
      run("steered", ts.length - 1, ts);
    },
    /** Re-runs the last turn's steered answer (the steering changed). */
    rerunSteered() {
      const ts = live.current.turns;
      if (ts.length) run("steered", ts.length - 1, ts);
    },
    clear() {
      for (const r of Object.values(running.current)) r?.ctl.abort();
      running.current = {};
      setTurns([]);
    },
  };
}
