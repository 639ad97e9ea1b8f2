// A real browser for the front-end tests: Debian's Chromium driven by playwright-core, with every
// console error, page error and network request recorded, and screenshots kept for the README.
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { ROOT } from "./models.js";

export const CHROMIUM = process.env.SAFESTEER_CHROMIUM ?? "/usr/bin/chromium";
/** Where the tests leave their screenshots (docs/screenshots holds the README's copies). */
export const SCREENSHOTS = join(ROOT, "test-output", "screenshots");

/**
 * For `describe(name, { skip: noBrowser() }, ...)`: false when Chromium is there; else the reason.
 * In CI (`CI` set) a missing browser is a failure, not a skip: .ci/run installs it.
 */
export function noBrowser(): string | false {
  if (existsSync(CHROMIUM)) return false;
  if (process.env.CI) throw new Error(`Chromium is not at ${CHROMIUM}: .ci/run installs it (apt-get install chromium).`);
  return `Chromium is not installed (${CHROMIUM}): apt-get install chromium to run the browser tests`;
}

export async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    // a closed network: without these, Chromium keeps calling Google's hosts in the background
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

export interface WatchedPage {
  page: Page;
  /** Console errors and uncaught exceptions. */
  errors: string[];
  /** Every URL the page requested. */
  requests: string[];
}

export async function watchedPage(browser: Browser, width = 1280, height = 800): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport: { width, height } });
  const errors: string[] = [];
  const requests: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("request", (r) => requests.push(r.url()));
  return { page, errors, requests };
}

export async function screenshot(page: Page, name: string, fullPage = false): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, name);
  await page.screenshot({ path, fullPage });
  return path;
}

/** Data marks Observable Plot drew in a chart (bars, dots, lines, cells, ticks), by mark type. */
export async function dataMarks(page: Page, chart: string): Promise<Record<string, number>> {
  return page.evaluate((name) => {
    const fig = document.querySelector(`.chart[data-chart="${name}"]`);
    const out: Record<string, number> = {};
    if (!fig) return out;
    // the element each mark draws per datum (a line's point markers sit in <marker>, not counted)
    const shape: Record<string, string> = {
      bar: "rect",
      dot: "circle",
      line: "path",
      cell: "rect",
      tick: "line",
      rule: "line",
      text: "text",
    };
    for (const g of fig.querySelectorAll("svg g[aria-label]")) {
      const kind = g.getAttribute("aria-label") as string;
      const el = shape[kind];
      if (!el) continue;
      const n = [...g.querySelectorAll(el)].filter((e) => !e.closest("marker")).length;
      out[kind] = (out[kind] ?? 0) + n;
    }
    return out;
  }, chart);
}
