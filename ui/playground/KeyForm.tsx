// The API key prompt: the first thing a page shows when its server wants a key (the key stays in
// the tab's session storage, never in the URL).
export function KeyForm({ refused, onKey }: { refused: boolean; onKey(key: string): void }) {
  return (
    <form
      class="key"
      onSubmit={(e) => {
        e.preventDefault();
        onKey(String(new FormData(e.currentTarget as HTMLFormElement).get("key") ?? ""));
      }}
    >
      <p>This server needs the API key it was started with (--api-key or SAFESTEER_API_KEY).</p>
      {refused && (
        <p class="error" role="alert">
          The server refused this key.
        </p>
      )}
      <div class="key-row">
        <label>
          API key
          <input name="key" type="password" autocomplete="off" autofocus />
        </label>
        <button type="submit">Use key</button>
      </div>
    </form>
  );
}
