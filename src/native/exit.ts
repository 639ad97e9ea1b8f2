// Ending the process at once while llama.cpp works on a libuv worker thread. Node's own exit joins
// the worker threads first, so a call that cannot be interrupted (llama_model_quantize has no abort
// callback) would hold Ctrl-C for as long as it runs; the C runtime's _exit ends the process now.
import { koffi } from "./library.js";

const LIBC: Partial<Record<NodeJS.Platform, string>> = {
  linux: "libc.so.6",
  darwin: "libSystem.B.dylib",
  win32: "ucrtbase.dll",
};

/** Exits with `code` without waiting for worker threads (after the caller has cleaned up). */
export function exitNow(code: number): never {
  try {
    const lib = LIBC[process.platform];
    if (lib) koffi.load(lib).func("void _exit(int)")(code);
  } catch {
    // no C runtime found: Node's exit, which waits for the worker
  }
  process.exit(code);
}
