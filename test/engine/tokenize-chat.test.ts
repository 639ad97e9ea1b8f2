// Model.tokenizeChat: chat messages become tokens one way everywhere, with BOS exactly once. Llama 3's
// template writes BOS itself ({{ bos_token }}) on a model that also asks the tokenizer for one
// (tokenizer.ggml.add_bos_token): tokenizing its text with special tokens added gives two.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { writeRandomGguf } from "../../src/convert/random-model.js";
import { Model } from "../../src/engine/model.js";
import { renderExample } from "../../src/steer/render.js";
import { ROOT, tmpFile } from "../support/models.js";

const TEMPLATES = join(ROOT, "test", "fixtures", "chat-templates");
const MESSAGES = [
  { role: "system", content: "Be kind." },
  { role: "user", content: "Hi" },
];
const count = (tokens: number[], id: number) => tokens.filter((t) => t === id).length;

function randomChatModel(arch: "llama3" | "qwen2"): Model {
  const path = tmpFile(`tokenize-chat-${arch}.gguf`);
  const chatTemplate = readFileSync(join(TEMPLATES, `${arch}.jinja`), "utf8");
  writeRandomGguf(path, { arch, nEmbd: 64, nLayer: 2, nHead: 4, seed: 3, chatTemplate });
  return Model.load(path);
}

describe("Model.tokenizeChat", () => {
  let llama3: Model;
  let qwen2: Model;
  before(() => {
    llama3 = randomChatModel("llama3");
    qwen2 = randomChatModel("qwen2");
  });
  after(() => {
    llama3?.dispose();
    qwen2?.dispose();
  });

  it("Llama 3's template (it writes BOS, and the model asks for one): exactly one BOS, first", () => {
    const bos = llama3.info.bos;
    assert.equal(llama3.detokenize([bos], { removeSpecial: false, renderSpecial: true }), "<|begin_of_text|>");
    assert.equal(llama3.native.addBos, true, "the fixture's model asks the tokenizer for BOS");
    const text = llama3.applyChatTemplate(MESSAGES);
    assert.ok(text.startsWith("<|begin_of_text|>"), text);
    // the way judges.ts and the install-check consumer tokenized chat text: BOS twice
    const twice = llama3.tokenize(text, { parseSpecial: true });
    assert.deepEqual([count(twice, bos), twice[0], twice[1]], [2, bos, bos]);

    const tokens = llama3.tokenizeChat(MESSAGES);
    assert.equal(count(tokens, bos), 1);
    assert.equal(tokens[0], bos);
    assert.deepEqual(tokens, twice.slice(1));
    assert.deepEqual(tokens, llama3.tokenize(text, { addSpecial: false, parseSpecial: true }), "the template's own BOS, nothing added");
  });

  it("the same model with a template that writes no BOS gets the tokenizer's, once", () => {
    const bos = llama3.info.bos;
    const tokens = llama3.tokenizeChat([{ role: "user", content: "Hi" }], { template: "chatml" });
    assert.equal(count(tokens, bos), 1);
    assert.equal(tokens[0], bos);
    const plain = llama3.tokenize(llama3.applyChatTemplate([{ role: "user", content: "Hi" }], { template: "chatml" }), {
      addSpecial: false,
      parseSpecial: true,
    });
    assert.deepEqual(tokens, [bos, ...plain]);
  });

  it("a model that asks for no BOS (Qwen 2) gets none", () => {
    assert.equal(qwen2.native.addBos, false);
    const tokens = qwen2.tokenizeChat(MESSAGES);
    assert.equal(count(tokens, qwen2.info.bos), 0, JSON.stringify(tokens.slice(0, 4)));
    assert.deepEqual(tokens, qwen2.tokenize(qwen2.applyChatTemplate(MESSAGES), { addSpecial: false, parseSpecial: true }));
  });

  it("addAssistant, the async form, and renderExample all give the same tokens", async () => {
    const open = llama3.tokenizeChat(MESSAGES, { addAssistant: true });
    const closed = llama3.tokenizeChat(MESSAGES, { addAssistant: false });
    assert.ok(open.length > closed.length);
    assert.deepEqual(open.slice(0, closed.length), closed);
    assert.deepEqual(await llama3.tokenizeChatAsync(MESSAGES), open);
    const ex = renderExample(llama3, { prompt: "Hi", response: "Hello" }, true);
    assert.deepEqual(
      ex,
      llama3.tokenizeChat(
        [
          { role: "user", content: "Hi" },
          { role: "assistant", content: "Hello" },
        ],
        { addAssistant: false },
      ),
    );
    assert.equal(count(ex, llama3.info.bos), 1);
  });
});
