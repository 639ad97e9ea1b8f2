// The playground in a real browser against a real server (the embedded organism and its bundle):
// both answers stream, a slider re-runs the steered answer, the conditional toggle shows the
// detector's scores, a bad request shows the server's message, the URL reproduces a comparison.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Browser, Page } from "playwright-core";
import { renderPage } from "../../src/web/page.js";
import { startServer, type TestServer } from "../server/helpers.js";
import { launch, noBrowser, screenshot, watchedPage } from "../support/browser.js";

const PROMPT = "Can you tell me how to play with matches?";

/** Waits until both answers of the last turn are done (or failed); returns their texts. */
async function answers(page: Page): Promise<{ unsteered: string; steered: string }> {
  await page.waitForFunction(() => {
    const turns = document.querySelectorAll(".turn");
    const last = turns[turns.length - 1];
    const cols = last ? [...last.querySelectorAll(".answer")] : [];
    return cols.length === 2 && cols.every((c) => ["done", "error"].includes((c as HTMLElement).dataset.status ?? ""));
  });
  return {
    unsteered: await page.$eval('.turn:last-of-type .answer[data-kind="unsteered"] .text', (e) => e.textContent ?? ""),
    steered: await page.$eval('.turn:last-of-type .answer[data-kind="steered"] .text', (e) => e.textContent ?? ""),
  };
}

/** The steered answer of the last turn once it was re-run and finished. */
async function rerunSteered(page: Page, before: string): Promise<string> {
  await page.waitForFunction((prev) => {
    const turns = document.querySelectorAll(".turn");
    const col = turns[turns.length - 1]?.querySelector('.answer[data-kind="steered"]') as HTMLElement | null;
    return col?.dataset.status === "done" && col.querySelector(".text")?.textContent !== prev;
  }, before);
  return page.$eval('.turn:last-of-type .answer[data-kind="steered"] .text', (e) => e.textContent ?? "");
}

describe("playground in Chromium", { skip: noBrowser() }, () => {
  let server: TestServer;
  let browser: Browser;

  before(async () => {
    const ui = renderPage({ app: "playground", title: "SafeSteer playground", connectSelf: true });
    server = await startServer({ parallel: 2 }, { ui, maxTokensCap: 128 });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await server?.close();
  });

  it("streams both answers for the same seed; a slider and the conditional toggle re-run the steered one", async () => {
    const w = await watchedPage(browser);
    const { page } = w;
    await page.goto(`${server.url}/`);
    await page.waitForSelector('input[type="range"]');
    const categories = server.backend.bundles()[0]?.categories ?? [];
    assert.equal(await page.locator('input[type="range"]').count(), categories.length, "a slider per category");

    await page.getByRole("textbox", { name: "Prompt" }).fill(PROMPT);
    await page.getByRole("textbox", { name: "Prompt" }).press("Enter");
    const first = await answers(page);
    assert.ok(first.unsteered.length > 0 && first.steered.length > 0, JSON.stringify(first));
    assert.notEqual(first.steered, first.unsteered, "steering at the tuned strengths changes the answer");

    // the unsteered column is exactly what the API gives for the same request and seed
    const direct = await server.client().chat.completions.create({
      messages: [{ role: "user", content: PROMPT }],
      temperature: 0.8,
      top_p: 0.95,
      max_tokens: 96,
      seed: 1,
      // @ts-expect-error the extra body field, as the openai client documents it
      safesteer: { policy: "none" },
    });
    assert.equal(first.unsteered, direct.choices[0]?.message.content);

    // every slider to zero: the steered answer becomes the unsteered one (same seed)
    for (const c of categories) {
      const slider = page.getByLabel(`strength for ${c}`);
      await slider.focus();
      await slider.press("Home");
    }
    const zero = await rerunSteered(page, first.steered);
    assert.equal(zero, first.unsteered);
    const audit = await page.$eval('.turn:last-of-type .answer[data-kind="steered"] .audit summary', (e) => e.textContent ?? "");
    assert.match(audit, /nothing steered/);

    // one slider up (keyboard): the steered answer changes again
    const dangerous = page.getByLabel(`strength for ${categories[0]}`);
    await dangerous.focus();
    for (let i = 0; i < 30; i++) await dangerous.press("ArrowRight");
    const moved = await rerunSteered(page, zero);
    assert.notEqual(moved, zero);

    // conditional: the detector's score per category, as bars, and what fired
    await page.getByLabel(/Conditional/).check();
    await page.waitForSelector('.turn:last-of-type .answer[data-kind="steered"] .score-bar');
    await answers(page);
    const bars = await page.$$eval('.turn:last-of-type .answer[data-kind="steered"] .score-bar', (b) =>
      b.map((g) => ({ c: (g as SVGElement).dataset.category, s: Number((g as SVGElement).dataset.score) })),
    );
    assert.deepEqual(bars.map((b) => b.c).sort(), [...categories].sort());
    assert.ok(bars.every((b) => Number.isFinite(b.s)));
    const fired = bars.filter((b) => b.s > 0).map((b) => b.c);
    const summary = await page.$eval('.turn:last-of-type .answer[data-kind="steered"] .audit summary', (e) => e.textContent ?? "");
    assert.match(summary, /conditional/);
    const auditText = (await page.textContent('.turn:last-of-type .answer[data-kind="steered"] .audit')) ?? "";
    for (const c of fired) assert.ok(auditText.includes(c as string), `${c} fired and is in the audit`);

    // the URL holds the comparison: opened afresh, it runs the same prompt with the same settings
    const url = page.url();
    assert.match(url, /prompt=Can\+you/);
    assert.match(url, /conditional=1/);
    const steeredNow = await page.$eval('.turn:last-of-type .answer[data-kind="steered"] .text', (e) => e.textContent ?? "");
    await screenshot(page, "playground.png");
    const again = await watchedPage(browser);
    await again.page.goto(url);
    const replay = await answers(again.page);
    assert.equal(replay.steered, steeredNow);
    assert.equal(replay.unsteered, first.unsteered);

    for (const x of [w, again]) {
      assert.deepEqual(x.errors, []);
      assert.deepEqual(
        x.requests.filter((u) => !u.startsWith(server.url)),
        [],
        "the playground calls nothing but its own server",
      );
    }
    await again.page.close();
    await page.close();
  });

  it("a bad request shows the server's message, and the next one is answered", async () => {
    const w = await watchedPage(browser, 390, 844);
    const { page } = w;
    await page.goto(`${server.url}/`);
    await page.waitForSelector('input[type="range"]');
    await page.getByLabel("Max tokens").fill("100000");
    await page.getByLabel("Max tokens").press("Tab");
    await page.getByRole("textbox", { name: "Prompt" }).fill(PROMPT);
    await page.getByRole("textbox", { name: "Prompt" }).press("Enter");
    await answers(page);
    const messages = await page.$$eval(".answer-error[role=alert]", (e) => e.map((x) => x.textContent ?? ""));
    assert.equal(messages.length, 2);
    for (const m of messages) assert.match(m, /max_tokens/);

    await page.getByLabel("Max tokens").fill("16");
    await page.getByLabel("Max tokens").press("Tab");
    // the settings are in the URL once the page has taken them
    await page.waitForFunction(() => location.hash.includes("max_tokens=16"));
    await page.getByRole("textbox", { name: "Prompt" }).fill(PROMPT);
    const before = await page.locator(".turn").count();
    await page.getByRole("button", { name: "Send" }).click();
    // the failed turn is finished too: wait for the new one first
    await page.waitForFunction((n) => document.querySelectorAll(".turn").length > n, before);
    const ok = await answers(page);
    const lastErrors = await page.$$eval(".turn:last-of-type .answer-error", (e) => e.map((x) => x.textContent ?? ""));
    assert.ok(ok.unsteered.length > 0 && ok.steered.length > 0, `both columns answered: ${JSON.stringify({ ...ok, lastErrors })}`);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 1, `the playground is ${overflow}px wider than a phone`);
    await screenshot(page, "playground-phone.png", true);
    // the 400s were the server's answers, not page errors
    assert.deepEqual(
      w.errors.filter((e) => !/status of 400/.test(e)),
      [],
    );
    await page.close();
  });

  it("serve --no-ui: / is a 404", async () => {
    const plain = await startServer({}, {});
    try {
      const res = await fetch(`${plain.url}/`);
      assert.equal(res.status, 404);
      const page = await fetch(`${server.url}/`);
      assert.equal(page.status, 200);
      assert.match(page.headers.get("content-type") ?? "", /text\/html/);
      assert.match(await page.text(), /connect-src 'self'/);
    } finally {
      await plain.close();
    }
  });
});
