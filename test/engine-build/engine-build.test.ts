// `safesteer engine build` without compiling anything: the cache key, where the sources come from
// (a llama.cpp folder, node-llama-cpp's package folder or tarball with its git bundle and patches),
// the one-line error without cmake, and the loader's order: --llama-lib / SAFESTEER_LLAMA_LIB, then
// the user's build, then the prebuilt package.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import {
  type BuildRecord,
  buildEngine,
  buildKey,
  buildsRoot,
  cmakeArgs,
  discoverSource,
  EngineBuildError,
  findBuildTool,
  findExecutable,
  findUserBuild,
  LLAMA_TOOLS,
  readSourceVersion,
} from "../../src/engine-build/index.js";
import { findLibraryDir } from "../../src/native/library.js";
import { ROOT, STORIES_GGUF, tmpFile } from "../support/models.js";

const hasGit = findExecutable("git") !== undefined;
const hasTar = findExecutable("tar") !== undefined;

/** A minimal llama.cpp tree: what source discovery looks for (no compiler ever sees it). */
function fakeTree(dir: string, version = [0, 4, 0]): string {
  mkdirSync(join(dir, "include"), { recursive: true });
  mkdirSync(join(dir, "ggml"), { recursive: true });
  const [a, b, c] = version;
  writeFileSync(
    join(dir, "CMakeLists.txt"),
    `cmake_minimum_required(VERSION 3.14)\nproject("llama.cpp" C CXX)\nset(LLAMA_VERSION_MAJOR ${a})\nset(LLAMA_VERSION_MINOR ${b})\nset(LLAMA_VERSION_PATCH ${c})\n`,
  );
  writeFileSync(join(dir, "include", "llama.h"), "// fake\nint llama_fake(void);\n");
  writeFileSync(join(dir, "ggml", "README"), "fake\n");
  return dir;
}

function git(cwd: string, ...args: string[]): string {
  const r = spawnSync("git", args, {
    cwd,
    encoding: "utf8",
    env: { ...process.env, GIT_AUTHOR_NAME: "t", GIT_AUTHOR_EMAIL: "t@t", GIT_COMMITTER_NAME: "t", GIT_COMMITTER_EMAIL: "t@t" },
  });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** node-llama-cpp's layout: package.json, llama/gitRelease.bundle of a llama.cpp tree, llama/patches/*.diff. */
function fakePackage(dir: string): { root: string; commit: string } {
  const repo = fakeTree(join(dir, "repo"));
  git(repo, "init", "-q");
  git(repo, "add", ".");
  git(repo, "commit", "-qm", "release");
  const commit = git(repo, "rev-parse", "HEAD");
  const root = join(dir, "package");
  mkdirSync(join(root, "llama", "patches"), { recursive: true });
  writeFileSync(join(root, "package.json"), JSON.stringify({ name: "node-llama-cpp", version: "9.9.9-test" }));
  git(repo, "bundle", "create", join(root, "llama", "gitRelease.bundle"), "HEAD", "--all");
  writeFileSync(
    join(root, "llama", "patches", "PR-1.diff"),
    [
      "--- a/include/llama.h",
      "+++ b/include/llama.h",
      "@@ -1,2 +1,3 @@",
      " // fake",
      " int llama_fake(void);",
      "+int llama_patched(void);",
      "",
    ].join("\n"),
  );
  return { root, commit };
}

describe("engine build: the cache key", () => {
  it("names the release, platform and backend, and hashes what makes builds differ (the CPU)", () => {
    const k = buildKey({ gpu: "cpu", platform: "linux", arch: "x64", cpu: "Some CPU [abc]" });
    assert.match(k, /^v0\.4\.0-linux-x64-cpu-[0-9a-f]{10}$/);
    assert.equal(buildKey({ gpu: "cpu", platform: "linux", arch: "x64", cpu: "Some CPU [abc]" }), k, "deterministic");
    assert.notEqual(buildKey({ gpu: "cpu", platform: "linux", arch: "x64", cpu: "Other CPU [abc]" }), k, "another CPU, another build");
    assert.match(buildKey({ gpu: "cuda", platform: "linux", arch: "x64", cpu: "Some CPU [abc]" }), /-cuda-/);
    assert.equal(buildKey({ gpu: "cpu" }), buildKey({ gpu: "cpu" }), "this machine's key is stable");
    assert.equal(buildsRoot("/c"), join("/c", "llama.cpp"));
  });

  it("configures native CPU flags, OpenMP, shared libraries that find each other, no tests, no network", () => {
    const a = cmakeArgs("cpu", { ninja: true });
    for (const x of ["-DGGML_NATIVE=ON", "-DGGML_OPENMP=ON", "-DBUILD_SHARED_LIBS=ON", "-DLLAMA_BUILD_TESTS=OFF", "-DLLAMA_OPENSSL=OFF"])
      assert.ok(a.includes(x), x);
    assert.ok(a.includes("-DCMAKE_BUILD_RPATH_USE_ORIGIN=ON"));
    assert.deepEqual(a.slice(0, 2), ["-G", "Ninja"]);
    assert.ok(cmakeArgs("cuda", { ninja: false, nvcc: "/x/nvcc" }).includes("-DGGML_CUDA=ON"));
    assert.ok(cmakeArgs("cuda", { ninja: false, nvcc: "/x/nvcc" }).includes("-DCMAKE_CUDA_COMPILER=/x/nvcc"));
    assert.ok(cmakeArgs("cpu", { ninja: false, defines: ["CMAKE_CUDA_ARCHITECTURES=90"] }).includes("-DCMAKE_CUDA_ARCHITECTURES=90"));
  });

  it("the RPC backend and llama-server only when asked", () => {
    const plain = cmakeArgs("cpu", { ninja: true });
    assert.ok(plain.includes("-DGGML_RPC=OFF") && plain.includes("-DLLAMA_BUILD_SERVER=OFF"));
    const all = cmakeArgs("cpu", { ninja: true, rpc: true, server: true });
    assert.ok(all.includes("-DGGML_RPC=ON") && all.includes("-DLLAMA_BUILD_SERVER=ON"));
    assert.ok(!all.includes("-DGGML_RPC=OFF") && !all.includes("-DLLAMA_BUILD_SERVER=OFF"), "each set once");
  });
});

describe("engine build: the sources", () => {
  it("a llama.cpp folder is used as it is; its version is read from CMakeLists.txt", () => {
    const dir = fakeTree(tmpFile("tree-ok"));
    assert.equal(readSourceVersion(dir), "0.4.0");
    const s = discoverSource({ source: dir, cacheDir: tmpFile("cache-tree") });
    assert.equal(s.kind, "tree");
    assert.equal(s.dir, dir);
  });

  it("refuses another llama.cpp release, and a folder that is neither sources nor the package", () => {
    const old = fakeTree(tmpFile("tree-old"), [0, 3, 9]);
    assert.throws(
      () => discoverSource({ source: old, cacheDir: tmpFile("cache-old") }),
      (e: unknown) =>
        e instanceof EngineBuildError && e.code === "source_invalid" && /0\.3\.9/.test(e.message) && /v0\.4\.0/.test(e.message),
    );
    const empty = tmpFile("not-sources");
    mkdirSync(empty, { recursive: true });
    assert.throws(
      () => discoverSource({ source: empty, cacheDir: tmpFile("cache-empty") }),
      (e: unknown) => e instanceof EngineBuildError && e.code === "source_invalid",
    );
    assert.throws(
      () => discoverSource({ source: tmpFile("no-such-folder"), cacheDir: tmpFile("cache-none") }),
      (e: unknown) => e instanceof EngineBuildError && e.code === "source_missing",
    );
  });

  it("without --source or earlier sources, and no download, says where to get them", () => {
    assert.throws(
      () => discoverSource({ cacheDir: tmpFile("cache-nothing"), download: false }),
      (e: unknown) =>
        e instanceof EngineBuildError &&
        e.code === "source_missing" &&
        /--source/.test(e.message) &&
        /node-llama-cpp@3\.21\.1/.test(e.message),
    );
  });

  it("node-llama-cpp's package folder: the git bundle is cloned into the cache and its patches applied, once", {
    skip: !hasGit && "git not installed",
  }, () => {
    const { root, commit } = fakePackage(tmpFile("pkg"));
    const cacheDir = tmpFile("cache-pkg");
    const lines: string[] = [];
    const s = discoverSource({ source: root, cacheDir, log: (l) => lines.push(l) });
    assert.equal(s.kind, "package");
    assert.equal(s.commit, commit);
    assert.deepEqual(s.patches, ["PR-1.diff"]);
    assert.equal(s.dir, join(cacheDir, "llama.cpp", "src", "node-llama-cpp-9.9.9-test"));
    assert.match(readFileSync(join(s.dir, "include", "llama.h"), "utf8"), /llama_patched/, "the patch is applied");
    assert.ok(lines.some((l) => /applying patch PR-1\.diff/.test(l)));
    // a second build reuses the unpacked sources; so does a build without --source
    const again = discoverSource({ source: root, cacheDir, log: (l) => lines.push(l) });
    assert.equal(again.dir, s.dir);
    assert.ok(lines.some((l) => /unpacked before/.test(l)));
  });

  it("node-llama-cpp's npm tarball (npm pack) works the same", { skip: (!hasGit || !hasTar) && "git or tar not installed" }, () => {
    const { root, commit } = fakePackage(tmpFile("pkg-tgz"));
    const tgz = tmpFile("node-llama-cpp-9.9.9-test.tgz");
    const r = spawnSync("tar", ["-czf", tgz, "-C", dirname(root), "package"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const s = discoverSource({ source: tgz, cacheDir: tmpFile("cache-tgz") });
    assert.equal(s.kind, "package");
    assert.equal(s.commit, commit);
    assert.ok(existsSync(join(s.dir, ".safesteer-source.json")));
  });
});

describe("engine build: without cmake", () => {
  it("fails at once with one line naming cmake and how to install it", async () => {
    const emptyPath = tmpFile("empty-path");
    mkdirSync(emptyPath, { recursive: true });
    const cacheDir = tmpFile("cache-nocmake");
    await assert.rejects(
      buildEngine({ source: fakeTree(tmpFile("tree-nocmake")), cacheDir, env: { PATH: emptyPath } }),
      (e: unknown) =>
        e instanceof EngineBuildError &&
        e.code === "tool_missing" &&
        /^cmake was not found on PATH/.test(e.message) &&
        !e.message.includes("\n"),
    );
    assert.ok(!existsSync(buildsRoot(cacheDir)) || !existsSync(join(buildsRoot(cacheDir), buildKey({ gpu: "cpu" }))), "nothing half-built");
  });

  it("the CLI exits 2 with that line", () => {
    const emptyPath = tmpFile("empty-path-cli");
    mkdirSync(emptyPath, { recursive: true });
    const main = pathToFileURL(join(ROOT, "src", "cli", "main.ts")).href;
    const script = `const { main } = await import(${JSON.stringify(main)}); process.exitCode = await main([process.execPath, "safesteer", ...process.argv.slice(1)]);`;
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "--input-type=module", "-e", script, "--", "engine", "build", "--source", fakeTree(tmpFile("tree-cli"))],
      { encoding: "utf8", cwd: ROOT, env: { ...process.env, PATH: emptyPath, SAFESTEER_CACHE: tmpFile("cache-cli") } },
    );
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^error: cmake was not found on PATH: .*Install CMake/);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });
});

describe("engine build: which build the engine loads", () => {
  /** A finished "user build" in a cache folder: node-llama-cpp's prebuilt libraries copied into it. */
  function fakeUserBuild(cacheDir: string, tools: string[] = []): string {
    const key = buildKey({ gpu: "cpu" });
    const folder = join(buildsRoot(cacheDir), key);
    cpSync(findLibraryDir("cpu"), join(folder, "bin"), { recursive: true });
    const record: Partial<BuildRecord> = {
      key,
      llamaCpp: "0.4.0",
      gpu: "cpu",
      native: true,
      openmp: false,
      compiler: "test copy of the prebuilt libraries",
      source: { kind: "tree", dir: "/nowhere", from: "/nowhere", commit: "80fb11a" },
      tools,
      builtAt: "2026-12-01T00:00:00.000Z",
    };
    writeFileSync(join(folder, "build.json"), JSON.stringify(record));
    return join(folder, "bin");
  }

  /** engineInfo() of a fresh process after loading stories260K (the build is chosen once per process). */
  function infoIn(env: NodeJS.ProcessEnv): { libraryDir: string; build: string; buildInfo?: { compiler: string } } {
    const llama = pathToFileURL(join(ROOT, "src", "native", "llama.ts")).href;
    const model = pathToFileURL(join(ROOT, "src", "engine", "model.ts")).href;
    const script = `const { Model } = await import(${JSON.stringify(model)}); const { engineInfo } = await import(${JSON.stringify(llama)});
const m = Model.load(${JSON.stringify(STORIES_GGUF)}); process.stdout.write(JSON.stringify(engineInfo())); m.dispose();`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      encoding: "utf8",
      cwd: ROOT,
      env: { ...process.env, SAFESTEER_LLAMA_LIB: "", SAFESTEER_NO_ENGINE_BUILD: "", ...env },
    });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
  }

  const cacheDir = tmpFile("cache-loader");
  const prebuilt = findLibraryDir("cpu");

  it("no build of the user's: the prebuilt package", () => {
    const i = infoIn({ SAFESTEER_CACHE: tmpFile("cache-empty-loader") });
    assert.equal(i.build, "prebuilt");
    assert.equal(i.libraryDir, prebuilt);
    assert.equal(findUserBuild("cpu", tmpFile("cache-empty-loader")), undefined);
  });

  it("the user's build when there is one (the ABI guard passes it like any other); info says so", () => {
    const bin = fakeUserBuild(cacheDir);
    assert.equal(findUserBuild("cpu", cacheDir)?.libDir, bin);
    assert.equal(findUserBuild("cuda", cacheDir), undefined, "a CPU build does not serve --gpu cuda");
    const i = infoIn({ SAFESTEER_CACHE: cacheDir });
    assert.equal(i.build, "user-build");
    assert.equal(i.libraryDir, bin);
    assert.equal(i.buildInfo?.compiler, "test copy of the prebuilt libraries");
    const cli = spawnSync(process.execPath, [join(ROOT, "bin", "safesteer.js"), "info", STORIES_GGUF, "--json", "--no-sites"], {
      encoding: "utf8",
      env: { ...process.env, SAFESTEER_LLAMA_LIB: "", SAFESTEER_NO_ENGINE_BUILD: "", SAFESTEER_CACHE: cacheDir },
    });
    assert.equal(cli.status, 0, cli.stderr);
    const engine = JSON.parse(cli.stdout).engine;
    assert.equal(engine.build, "user-build");
    assert.equal(engine.libraryDir, bin);
    assert.equal(engine.buildInfo.compiler, "test copy of the prebuilt libraries");
  });

  it("SAFESTEER_LLAMA_LIB still wins; SAFESTEER_NO_ENGINE_BUILD=1 goes back to the package", () => {
    fakeUserBuild(cacheDir);
    const lib = infoIn({ SAFESTEER_CACHE: cacheDir, SAFESTEER_LLAMA_LIB: prebuilt });
    assert.equal(lib.build, "llama-lib");
    assert.equal(lib.libraryDir, prebuilt);
    const off = infoIn({ SAFESTEER_CACHE: cacheDir, SAFESTEER_NO_ENGINE_BUILD: "1" });
    assert.equal(off.build, "prebuilt");
  });

  it("an unfinished build (no build.json) is not used", () => {
    const half = tmpFile("cache-half");
    fakeUserBuild(half);
    const record = join(buildsRoot(half), buildKey({ gpu: "cpu" }), "build.json");
    writeFileSync(record, "{ not json");
    assert.equal(findUserBuild("cpu", half), undefined);
  });

  it("engine info names the build the engine loads and llama.cpp's programs in it, without loading a model", () => {
    const withTools = tmpFile("cache-tools");
    const bin = fakeUserBuild(withTools, ["llama-server"]);
    // a program the record lists is found; one it does not list (or that is gone) is not
    writeFileSync(join(bin, "llama-server"), "#!/bin/sh\n", { mode: 0o755 });
    writeFileSync(join(bin, "llama-bench"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(findBuildTool("llama-server", "cpu", withTools), join(bin, "llama-server"));
    assert.equal(findBuildTool("llama-bench", "cpu", withTools), undefined, "not in the record: not a finished tool");
    assert.equal(findBuildTool("llama-server", "cpu", tmpFile("cache-no-tools")), undefined);
    const run = (cache: string) =>
      spawnSync(process.execPath, [join(ROOT, "bin", "safesteer.js"), "engine", "info", "--json"], {
        encoding: "utf8",
        env: { ...process.env, SAFESTEER_CACHE: cache },
      });
    const r = run(withTools);
    assert.equal(r.status, 0, r.stderr);
    const info = JSON.parse(r.stdout);
    assert.equal(info.build.libDir, bin);
    assert.equal(info.rpc, false, "an old record without rpc: no RPC backend");
    assert.deepEqual(
      info.tools.map((t: { name: string }) => t.name),
      LLAMA_TOOLS.map((t) => t.name),
    );
    assert.equal(info.tools.find((t: { name: string }) => t.name === "llama-server").path, join(bin, "llama-server"));
    assert.equal(info.tools.find((t: { name: string }) => t.name === "ggml-rpc-server").path, null);
    const none = run(tmpFile("cache-no-build"));
    assert.equal(none.status, 0, none.stderr);
    assert.equal(JSON.parse(none.stdout).build, null);
    const text = spawnSync(process.execPath, [join(ROOT, "bin", "safesteer.js"), "engine", "info"], {
      encoding: "utf8",
      env: { ...process.env, SAFESTEER_CACHE: tmpFile("cache-no-build") },
    });
    assert.match(text.stdout, /no build of yours on this machine/);
    assert.match(text.stdout, /llama-server\s+not built/);
  });
});
