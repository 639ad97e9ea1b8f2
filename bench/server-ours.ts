// Ours for the server bench, in a process of its own as llama-server is in its own: the bench's client
// (HTTP, SSE parsing) then runs beside the server, not on its JavaScript thread. argv[2] is the JSON of
// the serve() options it takes; it prints {"url": ...} once listening and ready, and closes on SIGTERM.
import { Writable } from "node:stream";
import { serve } from "../src/server/run.js";

const o = JSON.parse(process.argv[2] ?? "{}") as { model: string; bundle: string; threads: number; parallel: number; nCtx: number };
const running = await serve({
  model: o.model,
  bundles: [`organism=${o.bundle}`],
  parallel: o.parallel,
  nCtx: o.nCtx,
  threads: o.threads,
  host: "127.0.0.1",
  port: 0,
  // the JSON request log is not what is measured: it goes nowhere
  log: new Writable({
    write(_chunk, _enc, cb) {
      cb();
    },
  }),
  ui: false,
  // 16 clients on 4 slots: 12 wait, none may be turned away
  maxQueue: 64,
});
process.stdout.write(`${JSON.stringify({ url: running.url })}\n`);
process.once("SIGTERM", () => {
  void running.close().then(() => process.exit(0));
});
