// The chat column: every turn's prompt with its two answers side by side, then the composer. A new
// turn is scrolled into view, so that on a phone (controls stacked above) the answer is on screen.
import { useEffect, useRef } from "preact/hooks";
import { Answer } from "./Answer.js";
import type { Turn } from "./turns.js";

interface Props {
  turns: Turn[];
  draft: string;
  setDraft(text: string): void;
  conversation: boolean;
  setConversation(on: boolean): void;
  onSend(): void;
  onClear(): void;
}

export function Chat({ turns, draft, setDraft, conversation, setConversation, onSend, onClear }: Props) {
  const newest = useRef<HTMLElement>(null);
  const shown = useRef(turns.length);
  useEffect(() => {
    if (turns.length > shown.current) newest.current?.scrollIntoView({ block: "start" });
    shown.current = turns.length;
  }, [turns.length]);

  return (
    <main class="chat">
      {turns.length === 0 && (
        <p class="hint">
          Ask something: the same seed answers it twice, without and with steering. Each prompt is answered on its own, as one API request
          is, unless Conversation is on.
        </p>
      )}
      {turns.map((t, i) => (
        <article class="turn" key={i} ref={i === turns.length - 1 ? newest : undefined}>
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
          onSend();
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
              onSend();
            }
          }}
        />
        <div class="buttons">
          <button type="submit">Send</button>
          <button type="button" onClick={onClear}>
            Clear
          </button>
        </div>
      </form>
      <label class="check conversation">
        <input type="checkbox" checked={conversation} onChange={(e) => setConversation((e.currentTarget as HTMLInputElement).checked)} />
        Conversation: each column answers with its own history (its finished answers)
      </label>
    </main>
  );
}
