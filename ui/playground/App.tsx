// The playground: one chat, answered twice for the same seed, unsteered and steered, side by side.
// Moving a slider (or the conditional toggle) re-runs the last steered answer; the settings live in
// the URL so that a comparison can be shared (a shared link runs its prompt on load).
import { useEffect, useRef, useState } from "preact/hooks";
import type { BundleSummary, SteeringRequest } from "../../src/server/api-types.js";
import { Answer, type AnswerState } from "./Answer.js";
import { ApiFailure, type ChatMessage, listBundles, modelId, streamChat } from "./api.js";
import { Controls } from "./Controls.js";
import { DEFAULTS, type PlaygroundState, readUrlState, writeUrlState } from "./url-state.js";

type Kind = "unsteered" | "steered";
interface Turn {
  prompt: string;
  unsteered: AnswerState;
  steered: AnswerState;
}

const KEY_STORE = "safesteer-api-key";
const initialUrl = readUrlState(location.hash);

/** The starting policy of a bundle: what the URL says, else each category's tuned strength. */
function startPolicy(b: BundleSummary, fromUrl?: Record<string, number>): Record<string, number> {
  return Object.fromEntries(b.categories.map((c) => [c, fromUrl?.[c] ?? b.strengths[c] ?? b.recommendedStrength]));
}

function steeringFor(kind: Kind, s: PlaygroundState, bundle: BundleSummary | undefined): SteeringRequest {
  if (kind === "unsteered" || !bundle) return { policy: "none" };
  const policy = Object.fromEntries(Object.entries(s.policy).filter(([, v]) => v > 0));
  return {
    bundle: bundle.name,
    policy: Object.keys(policy).length ? policy : "none",
    mode: s.conditional ? "conditional" : "policy",
    ...(s.conditional ? { fire: s.fire } : {}),
  };
}

export function App() {
  const [key, setKey] = useState(() => sessionStorage.getItem(KEY_STORE) ?? "");
  const [needKey, setNeedKey] = useState(false);
  const [model, setModel] = useState("");
  const [bundles, setBundles] = useState<BundleSummary[]>([]);
  const [ready, setReady] = useState(false);
  const [error, setError] = useState("");
  const [state, setState] = useState<PlaygroundState>({ ...DEFAULTS, bundle: "", policy: {}, ...initialUrl });
  const [draft, setDraft] = useState(initialUrl.prompt ?? "");
  const [turns, setTurns] = useState<Turn[]>([]);
  const live = useRef({ state, turns, bundles });
  live.current = { state, turns, bundles };
  const running = useRef<Partial<Record<Kind, AbortController>>>({});

  const set = (patch: Partial<PlaygroundState>) => setState((s) => ({ ...s, ...patch }));

  useEffect(() => {
    let stale = false;
    (async () => {
      try {
        const [id, list] = await Promise.all([modelId(key), listBundles(key)]);
        if (stale) return;
        setModel(id);
        setBundles(list);
        setNeedKey(false);
        setError("");
        const chosen = list.find((b) => b.name === initialUrl.bundle) ?? list[0];
        setState((s) => ({ ...s, bundle: chosen?.name ?? "", policy: chosen ? startPolicy(chosen, initialUrl.policy) : {} }));
        setReady(true);
      } catch (e) {
        if (stale) return;
        if (e instanceof ApiFailure && e.status === 401) setNeedKey(true);
        setError(e instanceof Error ? e.message : String(e));
      }
    })();
    return () => {
      stale = true;
    };
  }, [key]);

  // a shared link runs its prompt once the server's bundles are known
  useEffect(() => {
    if (ready && initialUrl.prompt) send(initialUrl.prompt);
  }, [ready]);

  useEffect(() => {
    history.replaceState(null, "", writeUrlState(state));
  }, [state]);

  // steering changed: the last steered answer is re-run with the new settings
  const firstSteering = useRef(true);
  useEffect(() => {
    if (firstSteering.current) {
      firstSteering.current = false;
      return;
    }
    const t = setTimeout(() => {
      const { turns: ts } = live.current;
      if (ts.length) run("steered", ts.length - 1, ts);
    }, 250);
    return () => clearTimeout(t);
  }, [JSON.stringify(state.policy), state.conditional, state.fire, state.bundle]);

  function update(i: number, kind: Kind, patch: Partial<AnswerState>) {
    setTurns((ts) => ts.map((t, k) => (k === i ? { ...t, [kind]: { ...t[kind], ...patch } } : t)));
  }

  async function run(kind: Kind, i: number, ts: Turn[]) {
    const { state: s, bundles: bs } = live.current;
    const turn = ts[i];
    if (!turn) return;
    running.current[kind]?.abort();
    const ctl = new AbortController();
    running.current[kind] = ctl;
    const messages: ChatMessage[] = ts.slice(0, i).flatMap((t) => [
      { role: "user" as const, content: t.prompt },
      { role: "assistant" as const, content: t[kind].text },
    ]);
    messages.push({ role: "user", content: turn.prompt });
    update(i, kind, { text: "", status: "waiting", error: undefined, decision: undefined, finish: undefined });
    let text = "";
    try {
      const finish = await streamChat(
        messages,
        { temperature: s.temperature, topP: s.topP, maxTokens: s.maxTokens, seed: s.seed },
        steeringFor(
          kind,
          s,
          bs.find((b) => b.name === s.bundle),
        ),
        key,
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
      if (ctl.signal.aborted) return;
      update(i, kind, { status: "error", error: e instanceof Error ? e.message : String(e) });
    }
  }

  function send(prompt: string) {
    const text = prompt.trim();
    if (!text) {
      setError("Type a prompt first.");
      return;
    }
    setError("");
    const blank: AnswerState = { text: "", status: "waiting" };
    const ts = [...live.current.turns, { prompt: text, unsteered: blank, steered: blank }];
    setTurns(ts);
    setState((s) => ({ ...s, prompt: text }));
    setDraft("");
    run("unsteered", ts.length - 1, ts);
    run("steered", ts.length - 1, ts);
  }

  function pickBundle(name: string) {
    const b = bundles.find((x) => x.name === name);
    if (b) set({ bundle: name, policy: startPolicy(b), conditional: state.conditional && b.detector });
  }

  return (
    <div class="page">
      <header>
        <h1>SafeSteer playground</h1>
        <span class="model">{model ? `model ${model}` : "connecting…"}</span>
      </header>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {needKey && (
        <form
          class="key"
          onSubmit={(e) => {
            e.preventDefault();
            const v = String(new FormData(e.currentTarget as HTMLFormElement).get("key") ?? "");
            sessionStorage.setItem(KEY_STORE, v);
            setKey(v);
          }}
        >
          <label>
            API key
            <input name="key" type="password" autocomplete="off" />
          </label>
          <button type="submit">Use key</button>
        </form>
      )}
      <div class="layout">
        <Controls state={state} bundles={bundles} set={set} pickBundle={pickBundle} />
        <main class="chat">
          {turns.length === 0 && <p class="hint">Ask something: the same seed answers it twice, without and with steering.</p>}
          {turns.map((t, i) => (
            <article class="turn" key={i}>
              <p class="prompt">
                <strong>You:</strong> {t.prompt}
              </p>
              <div class="pair">
                <Answer kind="unsteered" answer={t.unsteered} />
                <Answer kind="steered" answer={t.steered} />
              </div>
            </article>
          ))}
          <form
            class="composer"
            onSubmit={(e) => {
              e.preventDefault();
              send(draft);
            }}
          >
            <textarea
              aria-label="Prompt"
              rows={2}
              value={draft}
              placeholder="Ask the model something (Enter sends, Shift+Enter breaks the line)"
              onInput={(e) => setDraft((e.currentTarget as HTMLTextAreaElement).value)}
              onKeyDown={(e) => {
                if (e.key === "Enter" && !e.shiftKey) {
                  e.preventDefault();
                  send(draft);
                }
              }}
            />
            <div class="buttons">
              <button type="submit">Send</button>
              <button
                type="button"
                onClick={() => {
                  for (const c of Object.values(running.current)) c?.abort();
                  setTurns([]);
                }}
              >
                Clear
              </button>
            </div>
          </form>
        </main>
      </div>
    </div>
  );
}
