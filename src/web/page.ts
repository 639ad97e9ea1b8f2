// One self-contained HTML page per front-end app (ui/, built by Vite into dist/ui/ as one script and
// one style sheet each): the assets are inlined, the page's data rides along as JSON, and a content
// security policy forbids every network request the page does not need. Reports therefore open
// offline from a file, and the playground loads nothing but the server's own API.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SafeSteerError } from "../errors.js";

/** dist/ui beside src/ and dist/ (the same from the sources under tsx and from the package). */
const UI_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "dist", "ui");

export type UiApp = "playground" | "report";

export interface PageOptions {
  app: UiApp;
  title: string;
  /** Data the app reads at start (JSON in the page). */
  data?: unknown;
  /** Whether the page may call its own origin (the playground); reports may call nothing. */
  connectSelf?: boolean;
}

const cache = new Map<string, string>();
function asset(file: string): string {
  const path = join(UI_DIR, file);
  let text = cache.get(path);
  if (text === undefined) {
    if (!existsSync(path)) throw new SafeSteerError("usage", `the web front end is not built (${path} is missing): run npm run build.`);
    text = readFileSync(path, "utf8");
    cache.set(path, text);
  }
  return text;
}

const escapeHtml = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c] as string);
/** JSON that cannot close the script element it sits in. */
const scriptJson = (v: unknown) => JSON.stringify(v ?? null).replace(/</g, "\\u003c");
/** Inline code that cannot close its element early. */
const scriptText = (s: string) => s.replace(/<\/(script)/gi, "<\\/$1");

export function renderPage(opts: PageOptions): string {
  const js = asset(`${opts.app}.js`);
  const css = asset(`${opts.app}.css`);
  const csp = [
    "default-src 'none'",
    "script-src 'unsafe-inline'",
    "style-src 'unsafe-inline'",
    "img-src data:",
    `connect-src ${opts.connectSelf ? "'self'" : "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>${escapeHtml(opts.title)}</title>
<style>${css.replace(/<\/(style)/gi, "<\\/$1")}</style>
</head>
<body>
<div id="app"></div>
<script id="safesteer-data" type="application/json">${scriptJson(opts.data)}</script>
<script>${scriptText(js)}</script>
</body>
</html>
`;
}
