// The models that ship inside the package (models/ beside src/ and dist/).
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
/** The organism: stories260K fine-tuned on SafeSteer's toy world; the model used when none is given. */
export const DEFAULT_MODEL = join(ROOT, "models", "organism.gguf");
/** stories260K (Karpathy's tinyllamas) converted to GGUF by this project: the organism's base. */
export const STORIES_MODEL = join(ROOT, "models", "stories260K.gguf");
