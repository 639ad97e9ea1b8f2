// The playground's connection to its server: the model id and the loaded bundles, once the API key
// (when the server wants one) is known. Until then nothing else is shown: a page that needs a key
// asks for it first and claims nothing else.
import { useEffect, useState } from "preact/hooks";
import type { BundleSummary } from "../../src/server/api-types.js";
import { pageData } from "../shared/data.js";
import { ApiFailure, listBundles, modelId } from "./api.js";

export type Connection =
  | { status: "connecting" }
  | { status: "need-key"; refused: boolean }
  | { status: "failed"; message: string }
  | { status: "ready"; model: string; bundles: BundleSummary[] };

/** What `safesteer serve` tells its page: whether every API call needs a key. */
interface PlaygroundPageData {
  needsKey?: boolean;
}

const KEY_STORE = "safesteer-api-key";

export function useConnection(): { conn: Connection; apiKey: string; submitKey(key: string): void } {
  const needsKey = pageData<PlaygroundPageData | null>()?.needsKey === true;
  const [attempt, setAttempt] = useState(() => ({ key: sessionStorage.getItem(KEY_STORE) ?? "", n: 0 }));
  const [conn, setConn] = useState<Connection>(() =>
    needsKey && !attempt.key ? { status: "need-key", refused: false } : { status: "connecting" },
  );

  useEffect(() => {
    if (needsKey && !attempt.key) return; // the key form is up: nothing to ask the server yet
    let stale = false;
    setConn({ status: "connecting" });
    (async () => {
      try {
        const [model, bundles] = await Promise.all([modelId(attempt.key), listBundles(attempt.key)]);
        if (!stale) setConn({ status: "ready", model, bundles });
      } catch (e) {
        if (stale) return;
        if (e instanceof ApiFailure && e.status === 401) setConn({ status: "need-key", refused: attempt.key !== "" });
        else setConn({ status: "failed", message: e instanceof Error ? e.message : String(e) });
      }
    })();
    return () => {
      stale = true;
    };
  }, [attempt]);

  return {
    conn,
    apiKey: attempt.key,
    submitKey(key: string) {
      sessionStorage.setItem(KEY_STORE, key);
      setAttempt((a) => ({ key, n: a.n + 1 }));
    },
  };
}
