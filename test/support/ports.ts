// A free TCP port on 127.0.0.1 for a child process to bind (llama-server, rpc-server): the tests and the bench.
import { once } from "node:events";
import { createServer } from "node:net";

export async function freePort(): Promise<number> {
  const srv = createServer().listen(0, "127.0.0.1");
  await once(srv, "listening");
  const addr = srv.address();
  srv.close();
  await once(srv, "close");
  if (!addr || typeof addr === "string") throw new Error("no free port");
  return addr.port;
}
