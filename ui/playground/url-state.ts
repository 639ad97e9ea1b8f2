// The playground's settings in the URL (after #), so that a comparison can be shared: the prompt,
// the bundle, each category's strength, conditional mode, whether the chat is a conversation and the
// sampling settings. The API key never goes in the URL.
export interface PlaygroundState {
  prompt: string;
  bundle: string;
  /** Strength per category of the bundle (0: not steered). */
  policy: Record<string, number>;
  conditional: boolean;
  fire: "all" | "top";
  /** Each column sends its own history (default: every prompt on its own, as one API request). */
  conversation: boolean;
  temperature: number;
  topP: number;
  maxTokens: number;
  seed: number;
}

export const DEFAULTS: Omit<PlaygroundState, "policy" | "bundle"> = {
  prompt: "",
  conditional: false,
  fire: "all",
  conversation: false,
  temperature: 0.8,
  topP: 0.95,
  maxTokens: 96,
  seed: 1,
};

const num = (v: string | null, d: number) => (v !== null && v.trim() !== "" && Number.isFinite(Number(v)) ? Number(v) : d);

/**
 * Reads what the URL says; categories it names become `policy` ("s.<category>=strength").
 * `conditional` only when the URL sets it (the default depends on the bundle).
 */
export function readUrlState(hash: string): Partial<PlaygroundState> {
  const p = new URLSearchParams(hash.replace(/^#/, ""));
  const policy: Record<string, number> = {};
  for (const [k, v] of p) if (k.startsWith("s.") && Number.isFinite(Number(v))) policy[k.slice(2)] = Number(v);
  const out: Partial<PlaygroundState> = {
    prompt: p.get("prompt") ?? DEFAULTS.prompt,
    fire: p.get("fire") === "top" ? "top" : "all",
    conversation: p.get("conversation") === "1",
    temperature: num(p.get("temperature"), DEFAULTS.temperature),
    topP: num(p.get("top_p"), DEFAULTS.topP),
    maxTokens: num(p.get("max_tokens"), DEFAULTS.maxTokens),
    seed: num(p.get("seed"), DEFAULTS.seed),
  };
  if (p.has("conditional")) out.conditional = p.get("conditional") === "1";
  if (p.get("bundle")) out.bundle = p.get("bundle") as string;
  if (Object.keys(policy).length) out.policy = policy;
  return out;
}

export function writeUrlState(s: PlaygroundState): string {
  const p = new URLSearchParams();
  if (s.prompt) p.set("prompt", s.prompt);
  if (s.bundle) p.set("bundle", s.bundle);
  for (const [c, v] of Object.entries(s.policy)) p.set(`s.${c}`, String(v));
  p.set("conditional", s.conditional ? "1" : "0");
  if (s.fire !== "all") p.set("fire", s.fire);
  if (s.conversation) p.set("conversation", "1");
  p.set("temperature", String(s.temperature));
  p.set("top_p", String(s.topP));
  p.set("max_tokens", String(s.maxTokens));
  p.set("seed", String(s.seed));
  return `#${p.toString()}`;
}
