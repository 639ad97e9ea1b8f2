// The native versions are written once (src/native/versions.ts); package.json pins the same ones,
// and what npm installed is what they say.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { describe, it } from "node:test";
import { platformPackage } from "../../src/native/library.js";
import {
  KOFFI_VERSION,
  LLAMA_CPP_TAG,
  LLAMA_CPP_VERSION,
  NODE_LLAMA_CPP_PACKAGE,
  NODE_LLAMA_CPP_VERSION,
} from "../../src/native/versions.js";
import { ROOT } from "../support/models.js";

const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  dependencies: Record<string, string>;
  optionalDependencies: Record<string, string>;
};
const require = createRequire(join(ROOT, "package.json"));
/** The version of an installed package, read from its package.json beside its entry point. */
function installedVersion(name: string): string {
  let dir = require.resolve(name);
  for (;;) {
    dir = join(dir, "..");
    try {
      const p = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string };
      if (p.name === name) return p.version;
    } catch {
      /* not a package folder yet: keep walking up */
    }
  }
}

describe("native versions", () => {
  it("package.json pins koffi and every @node-llama-cpp package at the versions in versions.ts", () => {
    assert.equal(pkg.dependencies.koffi, KOFFI_VERSION);
    const llama = Object.entries(pkg.optionalDependencies).filter(([name]) => name.startsWith("@node-llama-cpp/"));
    assert.ok(llama.length >= 7, JSON.stringify(pkg.optionalDependencies));
    for (const [name, version] of llama) assert.equal(version, NODE_LLAMA_CPP_VERSION, name);
    assert.equal(NODE_LLAMA_CPP_PACKAGE, "node-llama-cpp");
    assert.equal(LLAMA_CPP_TAG, `v${LLAMA_CPP_VERSION}`);
  });

  it("every platform's CPU package the loader asks for is pinned in package.json", () => {
    const platforms = ["linux-x64", "linux-arm64", "linux-arm", "darwin-arm64", "darwin-x64", "win32-x64", "win32-arm64"];
    for (const p of platforms) {
      const [os, arch] = p.split("-") as [NodeJS.Platform, NodeJS.Architecture];
      const name = platformPackage("cpu", os, arch);
      assert.ok(name && pkg.optionalDependencies[name] === NODE_LLAMA_CPP_VERSION, `${p}: ${name} is not pinned`);
    }
  });

  it("the installed koffi and this platform's llama.cpp package are the pinned versions", () => {
    assert.equal(installedVersion("koffi"), KOFFI_VERSION);
    const here = platformPackage("cpu");
    assert.ok(here, `no llama.cpp package for ${process.platform}-${process.arch}`);
    assert.equal(installedVersion(here), NODE_LLAMA_CPP_VERSION);
  });
});
