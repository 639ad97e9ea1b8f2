// A Model, Context or native handle used after dispose throws EngineError "disposed", never crashes
// the process. Each case runs in a child process: a use after free in llama.cpp is a segmentation
// fault that would take the test runner down with it.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../support/models.js";

const SCRIPT = join(ROOT, "test", "support", "dispose-cases.ts");

/** Runs one case in a child; fails on a crash (signal or non-zero exit) and returns its RESULT. */
function runCase(name: string): any {
  const r = spawnSync(process.execPath, ["--import", "tsx", SCRIPT, name], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.signal, null, `case ${name} was killed by ${r.signal}: ${r.stderr}`);
  assert.equal(r.status, 0, `case ${name} exited ${r.status}: ${r.stderr}`);
  const line = r.stdout.split("\n").find((l) => l.startsWith("RESULT "));
  assert.ok(line, `case ${name} printed no result: ${r.stdout}${r.stderr}`);
  return JSON.parse(line.slice("RESULT ".length));
}

const allDisposed = (o: Record<string, string>) => {
  for (const [call, code] of Object.entries(o)) assert.equal(code, "disposed", `${call}() after dispose`);
};

describe("use after dispose", () => {
  it("every Model method throws 'disposed' after model.dispose()", () => {
    const r = runCase("model-after-dispose");
    assert.ok(Object.keys(r).length >= 11);
    allDisposed(r);
  });

  it("every Context method throws 'disposed' after ctx.dispose(); the model stays usable", () => {
    const { modelTokenize, ...calls } = runCase("context-after-dispose");
    allDisposed(calls);
    assert.equal(modelTokenize, "ok");
  });

  it("model.dispose() with a live, steered context disposes the context first; its calls throw, a late release is a no-op", () => {
    const { contextDisposed, releaseSteering, disposeContextAgain, disposeModelAgain, ...calls } = runCase("context-after-model-dispose");
    assert.equal(contextDisposed, true);
    allDisposed(calls);
    assert.equal(releaseSteering, "ok");
    assert.equal(disposeContextAgain, "ok", "dispose is idempotent");
    assert.equal(disposeModelAgain, "ok");
  });

  it("the native handles (NativeModel, NativeContext) throw 'disposed' after free()", () => {
    const r = runCase("native-after-free");
    allDisposed(r.context);
    allDisposed(r.model);
    assert.equal(Object.keys(r.model).length, 11);
  });

  it("dispose() during a decode on a worker thread: the decode finishes, the free follows, later calls throw", () => {
    const r = runCase("dispose-during-decode");
    assert.equal(r.decode, "ok", "the decode in flight completed");
    assert.equal(r.contextDisposed, true);
    assert.equal(r.after, "disposed");
  });

  it("[Symbol.dispose] on Context and Model disposes them (Node 20's own Symbol.dispose)", () => {
    const r = runCase("symbol-dispose");
    assert.deepEqual(r, { contextGone: "disposed", stillThere: "ok", modelGone: "disposed", sameSymbol: true });
  });
});
