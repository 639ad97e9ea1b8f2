// The exact native versions SafeSteer is written for, in one place. library.ts declares llama.cpp's
// structs as include/llama.h of this release lays them out, abi.ts refuses any other release at
// start-up, and package.json pins the same numbers (a test checks they agree).

/** The llama.cpp release the bindings follow (llama_version() starts with it). */
export const LLAMA_CPP_VERSION = "0.4.0";
/** Its git tag, as in the sources node-llama-cpp ships. */
export const LLAMA_CPP_TAG = `v${LLAMA_CPP_VERSION}`;
/** The npm package whose prebuilt packages (@node-llama-cpp/<platform>) and sources hold that release. */
export const NODE_LLAMA_CPP_PACKAGE = "node-llama-cpp";
/** Every @node-llama-cpp/<platform> package (and node-llama-cpp itself, for its sources) at this version. */
export const NODE_LLAMA_CPP_VERSION = "3.21.1";
/** The FFI library: a struct passed by value is laid out by koffi, so its version is pinned as well. */
export const KOFFI_VERSION = "3.3.4";
