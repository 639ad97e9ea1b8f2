// Compiles the native eval filter (native/eval-filter.c, shipped in the npm package) with the
// machine's C compiler against a build's libggml-base, into the user cache: once per source, build
// and compiler. `safesteer engine build` compiles it beside a new build; the loader compiles it on
// first use otherwise (prebuilt libraries included). Without a compiler the hooks stay on the
// JavaScript path. No FFI here: files and a child process only.

import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { userCacheDir } from "../util/cache-dir.js";

/** The filter's C source: <package>/native/eval-filter.c (this file is src/native/ or dist/native/). */
export function evalFilterSource(): string {
  return fileURLToPath(new URL("../../native/eval-filter.c", import.meta.url));
}

/** libggml-base in a library folder (libggml-base.so, libggml-base.dylib), or undefined. */
function ggmlBaseFile(libDir: string): string | undefined {
  try {
    const f = readdirSync(libDir).find((n) => /^libggml-base(\.[\d.]+)?\.(so|dylib)$/.test(n));
    return f ? join(libDir, f) : undefined;
  } catch {
    return undefined;
  }
}

export type EvalFilterBuild = { ok: true; path: string; compiled: boolean } | { ok: false; reason: string };

export interface EvalFilterBuildOptions {
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The compiled filter for the llama.cpp libraries in libDir: from the cache when this source, this
 * libggml-base and this compiler made it before, else compiled now (about half a second). Never
 * throws: without a compiler, on Windows, or when compiling fails it says why.
 */
export function buildEvalFilter(libDir: string, opts: EvalFilterBuildOptions = {}): EvalFilterBuild {
  if (process.platform === "win32") return { ok: false, reason: "it is not compiled on Windows" };
  const env = opts.env ?? process.env;
  const src = evalFilterSource();
  const base = ggmlBaseFile(libDir);
  if (!existsSync(src)) return { ok: false, reason: `its source ${src} is missing from the package` };
  if (!base) return { ok: false, reason: `no libggml-base in ${libDir}` };
  const cc = env.CC || "cc";
  let key: string;
  try {
    const real = realpathSync(base);
    const st = statSync(real);
    key = createHash("sha256")
      .update(readFileSync(src))
      .update(`\0${real}\0${st.size}\0${st.mtimeMs}\0${cc}\0${process.platform}-${process.arch}`)
      .digest("hex")
      .slice(0, 16);
  } catch (e) {
    return { ok: false, reason: `cannot read ${base}: ${(e as Error).message}` };
  }
  const dir = join(opts.cacheDir ?? userCacheDir(env), "eval-filter");
  const out = join(dir, `libsafesteer-eval-filter-${key}.${process.platform === "darwin" ? "dylib" : "so"}`);
  if (existsSync(out)) return { ok: true, path: out, compiled: false };
  const tmp = `${out}.tmp-${process.pid}`;
  try {
    mkdirSync(dir, { recursive: true });
    const args = ["-O2", "-shared", "-fPIC", "-o", tmp, src, base, `-Wl,-rpath,${libDir}`];
    const r = spawnSync(cc, args, { env, encoding: "utf8", timeout: 60_000 });
    if (r.error) {
      const missing = (r.error as NodeJS.ErrnoException).code === "ENOENT";
      return { ok: false, reason: missing ? `no C compiler (${cc}) on PATH` : `${cc} failed: ${r.error.message}` };
    }
    if (r.status !== 0) {
      const line = `${r.stderr ?? ""}${r.stdout ?? ""}`.split("\n").find((l) => /error/i.test(l)) ?? `exit ${r.status ?? r.signal}`;
      return { ok: false, reason: `${cc} could not compile it: ${line.trim().slice(0, 200)}` };
    }
    renameSync(tmp, out); // whole or not at all: another process may be loading it
    return { ok: true, path: out, compiled: true };
  } catch (e) {
    return { ok: false, reason: `cannot write ${out}: ${(e as Error).message}` };
  } finally {
    rmSync(tmp, { force: true });
  }
}
