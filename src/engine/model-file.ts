// A GGUF file read as a model before llama.cpp sees it: a missing, truncated or non-GGUF file, or a
// GGUF that is not a model (a SafeSteer bundle, a control vector), gets an error naming the fix
// instead of llama.cpp's log line about an unknown architecture.
import { EngineError } from "./errors.js";
import { type GgufFile, metaString, readGguf } from "./gguf/reader.js";

/** The file's header, once it is known to be a model. */
export function readModelFile(path: string): GgufFile {
  const gguf = readGguf(path); // clear errors for missing, non-GGUF and truncated files
  const arch = metaString(gguf, "general.architecture");
  if (arch === "safesteer") {
    throw new EngineError(
      "model_invalid",
      `${path}: this is a SafeSteer bundle: pass it as --bundle (and the model it was built for as --model).`,
    );
  }
  if (arch === "controlvector") {
    throw new EngineError(
      "model_invalid",
      `${path}: this is a llama.cpp control vector, not a model: turn it into a bundle with \`safesteer import\` and pass that as --bundle.`,
    );
  }
  if (!arch) {
    throw new EngineError(
      "model_invalid",
      `${path} has no general.architecture: it is a GGUF but not a model (a control vector or bundle?).`,
    );
  }
  return gguf;
}
