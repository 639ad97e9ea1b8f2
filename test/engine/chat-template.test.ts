import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { describe, it } from "node:test";
import { writeLlamaGguf } from "../../src/convert/llama-gguf.js";
import { readLlama2cCheckpoint, readLlama2cTokenizer } from "../../src/convert/llama2c.js";
import type { EngineError } from "../../src/engine/errors.js";
import { editGguf } from "../../src/engine/gguf/edit.js";
import { gv } from "../../src/engine/gguf/types.js";
import { Model } from "../../src/engine/model.js";
import { STORIES_BIN, STORIES_GGUF, TOK512_BIN, tmpFile } from "../support/models.js";

describe("chat templates", () => {
  it("renders a Jinja template stored in the GGUF, and llama.cpp's built-in ones by name", () => {
    const path = tmpFile("chat.gguf");
    const template =
      "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>\\n' + m['content'] + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}";
    if (existsSync(STORIES_BIN) && existsSync(TOK512_BIN)) {
      // converted from llama2.c with the template (../shared/models)
      const m = readLlama2cCheckpoint(STORIES_BIN);
      writeLlamaGguf(path, m.hparams, readLlama2cTokenizer(TOK512_BIN, m.vocabSize), m, { chatTemplate: template });
    } else {
      // without them: the committed conversion with the template added
      editGguf(STORIES_GGUF, path, { setMetadata: { "tokenizer.chat_template": gv.str(template) } });
    }
    const model = Model.load(path);
    assert.equal(model.info.chatTemplate, template);
    const msgs = [
      { role: "system", content: "Be kind." },
      { role: "user", content: "Hi there" },
    ];
    assert.equal(model.applyChatTemplate(msgs), "<s><|system|>\nBe kind.\n<|user|>\nHi there\n<|assistant|>\n");
    assert.equal(model.applyChatTemplate(msgs, { addAssistant: false }), "<s><|system|>\nBe kind.\n<|user|>\nHi there\n");
    assert.equal(
      model.applyChatTemplate([{ role: "user", content: "Hi" }], { template: "chatml" }),
      "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    );
    model.dispose();
  });

  it("a model without a template says so", () => {
    const model = Model.load(STORIES_GGUF);
    assert.throws(
      () => model.applyChatTemplate([{ role: "user", content: "x" }]),
      (e: EngineError) => e.code === "template_failed" && /no chat template/.test(e.message),
    );
    model.dispose();
  });
});
