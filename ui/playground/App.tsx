// The playground: one chat, answered twice for the same seed, unsteered and steered, side by side.
// Moving a slider (or the conditional toggle) re-runs the last steered answer; the settings live in
// the URL so that a comparison can be shared (a shared link runs its prompt on load).
import { useEffect, useRef, useState } from "preact/hooks";
import type { BundleSummary } from "../../src/server/api-types.js";
import { Chat } from "./Chat.js";
import { Controls } from "./Controls.js";
import { useConnection } from "./connection.js";
import { KeyForm } from "./KeyForm.js";
import { startPolicy, startSteering } from "./steering.js";
import { useChat } from "./turns.js";
import { DEFAULTS, type PlaygroundState, readUrlState, writeUrlState } from "./url-state.js";

const initialUrl = readUrlState(location.hash);

export function App() {
  const { conn, apiKey, submitKey } = useConnection();
  return (
    <div class="page">
      <header>
        <h1>SafeSteer playground</h1>
        {conn.status === "ready" && <span class="model">model {conn.model}</span>}
        {conn.status === "connecting" && <span class="model">connecting…</span>}
      </header>
      {conn.status === "need-key" && <KeyForm refused={conn.refused} onKey={submitKey} />}
      {conn.status === "failed" && (
        <p class="error" role="alert">
          {conn.message}
        </p>
      )}
      {conn.status === "ready" && <Playground bundles={conn.bundles} apiKey={apiKey} />}
    </div>
  );
}

function Playground({ bundles, apiKey }: { bundles: BundleSummary[]; apiKey: string }) {
  const [state, setState] = useState<PlaygroundState>(() => ({ ...DEFAULTS, ...initialUrl, ...startSteering(bundles, initialUrl) }));
  const [draft, setDraft] = useState(initialUrl.prompt ?? "");
  const [error, setError] = useState("");
  const chat = useChat({ apiKey, state, bundles });
  const set = (patch: Partial<PlaygroundState>) => setState((s) => ({ ...s, ...patch }));

  function send(prompt: string) {
    const text = prompt.trim();
    setError(text ? "" : "Type a prompt first.");
    if (!text) return;
    set({ prompt: text });
    setDraft("");
    chat.send(text);
  }

  useEffect(() => {
    history.replaceState(null, "", writeUrlState(state));
  }, [state]);
  // a shared link runs its prompt at once
  useEffect(() => {
    if (initialUrl.prompt) send(initialUrl.prompt);
  }, []);
  useRerunOnSteering(state, chat.rerunSteered);

  function pickBundle(name: string) {
    const b = bundles.find((x) => x.name === name);
    if (b) set({ bundle: name, policy: startPolicy(b), conditional: b.detector });
  }

  return (
    <>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      <div class="layout">
        <Controls state={state} bundles={bundles} set={set} pickBundle={pickBundle} />
        <Chat
          turns={chat.turns}
          draft={draft}
          setDraft={setDraft}
          conversation={state.conversation}
          setConversation={(conversation) => set({ conversation })}
          onSend={() => send(draft)}
          onClear={chat.clear}
        />
      </div>
    </>
  );
}

/** The steering changed: the last steered answer is re-run with the new settings (debounced). */
function useRerunOnSteering(s: PlaygroundState, rerun: () => void) {
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    const t = setTimeout(rerun, 250);
    return () => clearTimeout(t);
  }, [JSON.stringify(s.policy), s.conditional, s.fire, s.bundle]);
}
