// A file that is not what an option expects gets advice for that option, not for another kind of file.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { describe, it } from "node:test";
import { readControlVector } from "../../src/engine/control-vector.js";
import { Model } from "../../src/engine/model.js";
import { readBundle } from "../../src/steer/bundle.js";
import { tmpFile } from "../support/models.js";

describe("advice fits the file's role", () => {
  it("random bytes as a bundle, a control vector and a model", () => {
    const p = tmpFile("random-bytes.gguf");
    writeFileSync(p, Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256)));
    assert.throws(() => readBundle(p), /not a GGUF file .*cannot be a bundle: build one with `safesteer build`/);
    assert.throws(() => readControlVector(p), /cannot be a control vector: export one with `safesteer export`/);
    assert.throws(() => Model.load(p), /cannot be a model: convert a checkpoint to GGUF first/);
    assert.throws(
      () => readBundle(tmpFile("missing.gguf")),
      /File not found: .*missing\.gguf\. Check the path \(to make a bundle: build one/,
    );
  });
});
