// The llama.cpp sources a build compiles: a llama.cpp folder used as is, or node-llama-cpp's npm
// package (a folder, its tarball, or downloaded with `npm pack`), whose llama/gitRelease.bundle is
// cloned and llama/patches/*.diff applied, as node-llama-cpp's own source build does; unpacked once
// per package version into <cache>/llama.cpp/src/.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { SafeSteerError } from "../errors.js";
import { buildsRoot, type SourceInfo } from "../native/build-lookup.js";
import { LLAMA_CPP_TAG, LLAMA_CPP_VERSION, NODE_LLAMA_CPP_PACKAGE, NODE_LLAMA_CPP_VERSION } from "../native/versions.js";
import { writeFileAtomic } from "../util/atomic-write.js";
import { EngineBuildError } from "./errors.js";
import { findExecutable, requireTool, runSync } from "./toolchain.js";

export type { SourceInfo };

/** llama.cpp's version as its CMakeLists.txt declares it ("0.4.0"), or undefined. */
export function readSourceVersion(dir: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, "CMakeLists.txt"), "utf8");
  } catch {
    return undefined;
  }
  const part = (p: string) => new RegExp(`set\\(LLAMA_VERSION_${p}\\s+(\\d+)\\)`).exec(text)?.[1];
  const [a, b, c] = [part("MAJOR"), part("MINOR"), part("PATCH")];
  return a !== undefined && b !== undefined && c !== undefined ? `${a}.${b}.${c}` : undefined;
}

function isLlamaTree(dir: string): boolean {
  return existsSync(join(dir, "CMakeLists.txt")) && existsSync(join(dir, "include", "llama.h")) && existsSync(join(dir, "ggml"));
}

function checkTree(dir: string, from: string): void {
  const v = readSourceVersion(dir);
  if (v !== LLAMA_CPP_VERSION) {
    throw new EngineBuildError(
      "source_invalid",
      `${from} holds llama.cpp ${v ?? "of an unknown version"}, but SafeSteer binds llama.cpp ${LLAMA_CPP_TAG}: pass the sources of ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_VERSION} (or omit --source to download them).`,
    );
  }
}

/** The node-llama-cpp package root inside a folder (the folder itself, or package/ of an unpacked tarball). */
function packageRoot(dir: string): string | undefined {
  for (const d of [dir, join(dir, "package")]) if (existsSync(join(d, "llama", "gitRelease.bundle"))) return d;
  return undefined;
}

/** The package's version from its package.json ("unknown" for a bare llama/ folder); refuses another package. */
function packageVersion(pkgRoot: string, from: string): string {
  let pj: { name?: string; version?: string };
  try {
    pj = JSON.parse(readFileSync(join(pkgRoot, "package.json"), "utf8"));
  } catch {
    return "unknown";
  }
  if (pj.name && pj.name !== NODE_LLAMA_CPP_PACKAGE) {
    throw new EngineBuildError("source_invalid", `${from} is the npm package ${pj.name}, not ${NODE_LLAMA_CPP_PACKAGE}.`);
  }
  return pj.version ?? "unknown";
}

/** Sources unpacked before into `dest` (its marker written last), or undefined. */
function unpackedBefore(dest: string, log: (s: string) => void): SourceInfo | undefined {
  const marker = join(dest, ".safesteer-source.json");
  if (!existsSync(marker)) return undefined;
  const m = JSON.parse(readFileSync(marker, "utf8")) as SourceInfo;
  log(`sources: ${dest} (unpacked before from ${m.from})`);
  return { ...m, dir: dest };
}

/** Clones the bundle into `tmp` and applies the package's patches, in name order. */
function cloneAndPatch(git: string, pkgRoot: string, tmp: string, env: NodeJS.ProcessEnv, log: (s: string) => void) {
  runSync(git, ["clone", "--quiet", join(pkgRoot, "llama", "gitRelease.bundle"), tmp], { env });
  const patchDir = join(pkgRoot, "llama", "patches");
  const patches = existsSync(patchDir)
    ? readdirSync(patchDir)
        .filter((f) => /\.(diff|patch)$/.test(f))
        .sort()
    : [];
  for (const p of patches) {
    log(`applying patch ${p}`);
    runSync(git, ["apply", join(patchDir, p)], { cwd: tmp, env });
  }
  return { patches, commit: runSync(git, ["rev-parse", "HEAD"], { cwd: tmp, env }).trim() };
}

/** Unpacks node-llama-cpp's llama.cpp sources into the cache, once per package version. */
function unpackPackage(pkgRoot: string, from: string, cacheDir: string | undefined, env: NodeJS.ProcessEnv, log: (s: string) => void) {
  const version = packageVersion(pkgRoot, from);
  const git = requireTool(
    "git",
    env,
    `it unpacks the llama.cpp sources from ${NODE_LLAMA_CPP_PACKAGE}'s git bundle`,
    "Install git, or pass --source with a llama.cpp source folder.",
  );
  const dest = join(buildsRoot(cacheDir), "src", `${NODE_LLAMA_CPP_PACKAGE}-${version}`);
  const before = unpackedBefore(dest, log);
  if (before) return before;
  mkdirSync(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`unpacking llama/gitRelease.bundle of ${NODE_LLAMA_CPP_PACKAGE}@${version} into ${dest}`);
  try {
    const { patches, commit } = cloneAndPatch(git, pkgRoot, tmp, env, log);
    if (!isLlamaTree(tmp)) throw new EngineBuildError("source_invalid", `${from}: the git bundle does not hold a llama.cpp source tree.`);
    checkTree(tmp, from);
    const info: SourceInfo = { kind: "package", dir: dest, from, commit, patches };
    writeFileAtomic(join(tmp, ".safesteer-source.json"), [`${JSON.stringify(info, null, 2)}\n`]);
    rmSync(dest, { recursive: true, force: true });
    renameSync(tmp, dest);
    return info;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (e instanceof SafeSteerError) throw e;
    throw new EngineBuildError("source_invalid", `could not unpack the llama.cpp sources from ${from}: ${(e as Error).message}`);
  }
}

/** Extracts package/package.json and package/llama of an npm tarball into a temporary folder. */
function extractTarball(file: string, env: NodeJS.ProcessEnv): string {
  const tar = requireTool("tar", env, `it unpacks ${file}`, "Install tar, or unpack the tarball yourself and pass the folder to --source.");
  const tmp = mkdtempSync(join(tmpdir(), "safesteer-llama-src-"));
  try {
    runSync(tar, ["-xzf", file, "-C", tmp, "package/package.json", "package/llama"], { env });
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new EngineBuildError(
      "source_invalid",
      `could not unpack ${file} (${(e as Error).message}): is it the npm tarball of ${NODE_LLAMA_CPP_PACKAGE}?`,
    );
  }
  return tmp;
}

/** Unpacks the package inside an npm tarball (the temporary extraction removed afterwards). */
function fromTarball(file: string, from: string, cacheDir: string | undefined, env: NodeJS.ProcessEnv, log: (s: string) => void) {
  const tmp = extractTarball(file, env);
  try {
    const root = packageRoot(tmp);
    if (!root)
      throw new EngineBuildError(
        "source_invalid",
        `${from} holds no llama/gitRelease.bundle: it is not the npm tarball of ${NODE_LLAMA_CPP_PACKAGE}.`,
      );
    return unpackPackage(root, from, cacheDir, env, log);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export interface SourceOptions {
  /** A llama.cpp source folder, a node-llama-cpp package folder, or its npm tarball (.tgz). */
  source?: string;
  cacheDir?: string;
  /** The environment the tools run in (PATH decides which are found). */
  env?: NodeJS.ProcessEnv;
  /** Without a source: download node-llama-cpp's tarball with `npm pack` (default true). */
  download?: boolean;
  log?: (line: string) => void;
}

/** --source: a tarball, a llama.cpp tree (used as is), or a node-llama-cpp package folder. */
function fromPath(source: string, cacheDir: string | undefined, env: NodeJS.ProcessEnv, log: (s: string) => void): SourceInfo {
  const src = resolve(source);
  if (!existsSync(src)) throw new EngineBuildError("source_missing", `--source ${source} does not exist.`);
  if (statSync(src).isFile()) return fromTarball(src, src, cacheDir, env, log);
  if (isLlamaTree(src)) {
    checkTree(src, source);
    let commit: string | undefined;
    const git = findExecutable("git", env);
    if (git && existsSync(join(src, ".git"))) {
      try {
        commit = runSync(git, ["rev-parse", "HEAD"], { cwd: src, env }).trim();
      } catch {
        /* not a git checkout after all */
      }
    }
    log(`sources: ${src}`);
    return { kind: "tree", dir: src, from: src, commit };
  }
  const root = packageRoot(src);
  if (root) return unpackPackage(root, src, cacheDir, env, log);
  throw new EngineBuildError(
    "source_invalid",
    `${source} is neither a llama.cpp source folder (CMakeLists.txt, include/llama.h, ggml/) nor ${NODE_LLAMA_CPP_PACKAGE}'s package (llama/gitRelease.bundle).`,
  );
}

/** node-llama-cpp's tarball fetched with `npm pack` from the npm registry, then unpacked. */
function downloadPackage(cacheDir: string | undefined, env: NodeJS.ProcessEnv, log: (s: string) => void): SourceInfo {
  const npm = requireTool(
    process.platform === "win32" ? "npm.cmd" : "npm",
    env,
    `it downloads the llama.cpp sources (the npm package ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_VERSION})`,
    "Install npm, or pass --source with a llama.cpp source folder or that package's tarball.",
  );
  const tmp = mkdtempSync(join(tmpdir(), "safesteer-npm-pack-"));
  try {
    const spec = `${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_VERSION}`;
    log(`downloading ${spec} (about 35 MB) with npm pack`);
    try {
      runSync(npm, ["pack", spec, "--pack-destination", tmp, "--silent"], { env });
    } catch (e) {
      throw new EngineBuildError(
        "source_missing",
        `could not download ${spec} with npm pack (${(e as Error).message.slice(0, 300)}): check the network, or pass --source with a llama.cpp folder or that package's tarball.`,
      );
    }
    const tgz = readdirSync(tmp).find((f) => f.endsWith(".tgz"));
    if (!tgz) throw new EngineBuildError("source_missing", `npm pack ${spec} wrote no tarball.`);
    return fromTarball(join(tmp, tgz), spec, cacheDir, env, log);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Finds the llama.cpp sources to build: --source (a llama.cpp tree used as is; a node-llama-cpp
 * package folder or tarball, whose bundle is unpacked and patched), else sources unpacked before,
 * else node-llama-cpp's tarball fetched with `npm pack` from the npm registry.
 */
export function discoverSource(opts: SourceOptions = {}): SourceInfo {
  const env = opts.env ?? process.env;
  const log = opts.log ?? (() => {});
  if (opts.source) return fromPath(opts.source, opts.cacheDir, env, log);
  const cached = join(buildsRoot(opts.cacheDir), "src", `${NODE_LLAMA_CPP_PACKAGE}-${NODE_LLAMA_CPP_VERSION}`);
  const before = unpackedBefore(cached, log);
  if (before) return before;
  if (opts.download === false) {
    throw new EngineBuildError(
      "source_missing",
      `no llama.cpp sources: pass --source with a llama.cpp ${LLAMA_CPP_TAG} folder or the tarball of ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_VERSION} (npm pack ${NODE_LLAMA_CPP_PACKAGE}@${NODE_LLAMA_CPP_VERSION}).`,
    );
  }
  return downloadPackage(opts.cacheDir, env, log);
}
