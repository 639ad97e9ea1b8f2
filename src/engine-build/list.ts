// `safesteer engine list` / `engine info`: every finished build under the cache folder, and whether it
// is this machine's (the loader's own lookup is native/build-lookup.ts).
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { BUILD_GPUS, buildKey, buildsRoot, readBuildRecord, type UserBuild } from "../native/build-lookup.js";

export interface ListedBuild extends UserBuild {
  folder: string;
  /** Made on this machine for its backend: the loader takes it. */
  here: boolean;
}

/** Every finished build under the cache folder (any machine or backend). */
export function listUserBuilds(cacheDir?: string): ListedBuild[] {
  const root = buildsRoot(cacheDir);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  const out: ListedBuild[] = [];
  for (const name of names.sort()) {
    const folder = join(root, name);
    const record = readBuildRecord(folder);
    if (!record) continue;
    const here = BUILD_GPUS.includes(record.gpu) && buildKey({ gpu: record.gpu }) === name;
    out.push({ folder, libDir: join(folder, "bin"), record, here });
  }
  return out;
}
