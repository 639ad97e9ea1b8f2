// `--rpc host:port,...`: models larger than one machine through llama.cpp's RPC backend. Each endpoint
// is checked with the RPC handshake first (llama.cpp itself aborts the whole process when a server
// does not answer), then its devices are registered; a model loaded afterwards with GPU layers is
// split across them. Needs a build with the RPC backend (`safesteer engine build --rpc`).
import { connect } from "node:net";
import type { EngineChoice } from "../native/library.js";
import { addRpcServer, requireRpcBackend } from "../native/rpc.js";
import { EngineError } from "./errors.js";

/** The RPC protocol this llama.cpp speaks (ggml-rpc.h: RPC_PROTO_MAJOR_VERSION 6, minor 0). */
const RPC_MAJOR = 6;
const RPC_MINOR = 0;
const RPC_CMD_HELLO = 14;
const CONN_CAPS = 24;

/** "host:port,host:port" -> endpoints, each with a port in 1..65535. */
export function parseRpcServers(list: string): string[] {
  const eps = list
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (eps.length === 0) throw new EngineError("bad_argument", "--rpc needs at least one host:port (e.g. --rpc 127.0.0.1:50052).");
  for (const ep of eps) {
    const m = /^(.+):(\d+)$/.exec(ep);
    const port = m ? Number(m[2]) : 0;
    if (!m || port < 1 || port > 65535)
      throw new EngineError("bad_argument", `--rpc ${ep}: give each server as host:port (e.g. 127.0.0.1:50052), separated by commas.`);
  }
  return eps;
}

/** The RPC handshake (HELLO) with one server: resolves with its protocol version, or rejects with why not. */
export function rpcHello(endpoint: string, timeoutMs = 5000): Promise<string> {
  const i = endpoint.lastIndexOf(":");
  const host = endpoint.slice(0, i).replace(/^\[(.*)\]$/, "$1");
  const port = Number(endpoint.slice(i + 1));
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let got = Buffer.alloc(0);
    const fail = (why: string) => {
      sock.destroy();
      reject(
        new EngineError(
          "backend_load_failed",
          `--rpc ${endpoint}: ${why}; start one there with \`ggml-rpc-server -H ${host} -p ${port}\` (safesteer engine build --tools builds it).`,
        ),
      );
    };
    sock.setTimeout(timeoutMs, () => fail(`no answer in ${timeoutMs / 1000} s`));
    sock.on("error", (e) => fail(`cannot connect (${(e as NodeJS.ErrnoException).code ?? e.message})`));
    sock.on("connect", () => {
      // | cmd (1 byte) | request size (8 bytes, little-endian) | conn_caps (24 zero bytes: plain TCP) |
      const req = Buffer.alloc(1 + 8 + CONN_CAPS);
      req.writeUInt8(RPC_CMD_HELLO, 0);
      req.writeBigUInt64LE(BigInt(CONN_CAPS), 1);
      sock.write(req);
    });
    sock.on("data", (d) => {
      got = Buffer.concat([got, d]);
      if (got.length < 8 + 4) return;
      const size = Number(got.readBigUInt64LE(0));
      if (size !== 4 + CONN_CAPS) return fail(`not an rpc-server of this llama.cpp (a HELLO answer of ${size} bytes)`);
      const [major, minor, patch] = [got.readUInt8(8), got.readUInt8(9), got.readUInt8(10)];
      sock.destroy();
      if (major !== RPC_MAJOR || minor > RPC_MINOR)
        reject(
          new EngineError(
            "backend_load_failed",
            `--rpc ${endpoint}: the rpc-server speaks RPC ${major}.${minor}.${patch}, this llama.cpp ${RPC_MAJOR}.${RPC_MINOR}: run the rpc-server of the same build.`,
          ),
        );
      else resolve(`${major}.${minor}.${patch}`);
    });
  });
}

/**
 * Checks and registers every server of `--rpc` with llama.cpp (loading the engine's build first);
 * returns the devices they lend. Model loads after this with GPU layers offload to them.
 */
export async function connectRpcServers(list: string, choice: EngineChoice = {}): Promise<string[]> {
  const eps = parseRpcServers(list);
  requireRpcBackend(choice);
  for (const ep of eps) await rpcHello(ep);
  return eps.flatMap((ep) => addRpcServer(ep, choice));
}
