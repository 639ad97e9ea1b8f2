// A real server for the tests: the embedded organism and its bundle, on 127.0.0.1 at a free port,
// with its JSON log lines kept in memory.
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import type { FastifyInstance } from "fastify";
import OpenAI from "openai";
import { type AppOptions, createApp } from "../../src/server/app.js";
import { EngineBackend, type EngineBackendOptions } from "../../src/server/engine-backend.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MODEL = join(ROOT, "models", "organism.gguf");
export const BUNDLE = join(ROOT, "reports", "organism", "organism.bundle.gguf");
export const BIN = join(ROOT, "bin", "safesteer.js");
/** The organism's chat template starts a new turn with these (what `generate --chat` stops at). */
export const TURN_STOPS = ["\nA:", "\nQ:"];

export interface TestServer {
  url: string;
  app: FastifyInstance;
  backend: EngineBackend;
  /** The JSON log lines written so far. */
  logs: Array<Record<string, any>>;
  client(apiKey?: string): OpenAI;
  close(): Promise<void>;
}

export async function startServer(backendOpts: Partial<EngineBackendOptions> = {}, appOpts: AppOptions = {}): Promise<TestServer> {
  const backend = await EngineBackend.create({ model: MODEL, bundles: [`organism=${BUNDLE}`], nCtx: 256, ...backendOpts });
  const logs: Array<Record<string, any>> = [];
  let pending = "";
  const log = new Writable({
    write(chunk, _enc, cb) {
      pending += String(chunk);
      let nl = pending.indexOf("\n");
      while (nl >= 0) {
        logs.push(JSON.parse(pending.slice(0, nl)));
        pending = pending.slice(nl + 1);
        nl = pending.indexOf("\n");
      }
      cb();
    },
  });
  const app = createApp(backend, { log, ...appOpts });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  const url = `http://127.0.0.1:${addr.port}`;
  return {
    url,
    app,
    backend,
    logs,
    client: (apiKey = "none") => new OpenAI({ baseURL: `${url}/v1`, apiKey, maxRetries: 0, timeout: 30_000 }),
    async close() {
      // every request is over: drop the keep-alive (and spare pre-opened) connections too
      const closing = app.close();
      app.server.closeAllConnections();
      await closing;
      await backend.close();
    },
  };
}

export interface PostResult {
  status: number;
  headers: Headers;
  json: any;
  text: string;
}

/** POSTs a raw body; returns the status, headers and parsed JSON (or text). */
export async function post(url: string, body: string | object, headers: Record<string, string> = {}): Promise<PostResult> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, text };
}

/** The data lines of a server-sent event stream, read to the end. */
export async function readSse(res: Response): Promise<string[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((b) => b.trim())
    .map((b) => {
      if (!b.startsWith("data: ")) throw new Error(`not an SSE data line: ${b}`);
      return b.slice(6);
    });
}

/** Waits until cond() holds (polling), or fails after ms. */
export async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export interface ServeProcess {
  child: ChildProcess;
  /** The URL it printed once listening. */
  url: Promise<string>;
  exited: Promise<number | string | null>;
  stderr(): string;
  stdout(): string;
}

/** Starts `safesteer serve -m <organism> --port 0 ...args` as a process; `url` resolves with the URL it prints. */
export function spawnServe(args: string[], env: Record<string, string> = {}): ServeProcess {
  const child = spawn(process.execPath, [BIN, "serve", "-m", MODEL, "--port", "0", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stderr.on("data", (d) => {
    err += d;
  });
  const exited = new Promise<number | string | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on("data", (d) => {
      out += d;
      const m = /serving \S+ on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1] as string);
    });
    exited.then((code) => reject(new Error(`serve exited ${code} before listening: ${err}`)));
  });
  return { child, url, exited, stderr: () => err, stdout: () => out };
}
