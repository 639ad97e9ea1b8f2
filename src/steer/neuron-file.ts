// Neuron files (schema safesteer.neurons/1): JSON, written atomically, checked on reading so that a
// wrong or damaged file fails with what is wrong rather than steering the wrong units.
import { readFileSync } from "node:fs";
import { writeFileAtomic } from "../util/atomic-write.js";
import { SteerError } from "./errors.js";
import { NEURONS_SCHEMA, type NeuronSet } from "./neuron-types.js";

export function writeNeurons(path: string, set: NeuronSet): void {
  writeFileAtomic(path, [`${JSON.stringify(set, null, 1)}\n`]);
}

const isCount = (x: unknown) => Number.isInteger(x) && (x as number) >= 0;

/** Parses and checks a neuron file's text; `what` names it in errors. */
export function parseNeurons(text: string, what: string): NeuronSet {
  let j: NeuronSet;
  try {
    j = JSON.parse(text) as NeuronSet;
  } catch (e) {
    throw new SteerError("bad_bundle", `${what} is not JSON (${(e as Error).message}): give a file written by \`safesteer neurons\`.`);
  }
  if (j?.schema !== NEURONS_SCHEMA)
    throw new SteerError(
      "bad_bundle",
      `${what} is not a neuron file (schema ${JSON.stringify(j?.schema)}, expected ${NEURONS_SCHEMA}): write one with \`safesteer neurons\`.`,
    );
  if (!j.model || !isCount(j.model.nFf) || typeof j.categories !== "object" || j.categories === null)
    throw new SteerError("bad_bundle", `${what} lacks its model or categories: write it again with \`safesteer neurons\`.`);
  for (const [c, e] of Object.entries(j.categories)) {
    const bad = (e?.units ?? [null]).find(
      (u) => !u || !isCount(u.layer) || !isCount(u.index) || u.index >= j.model.nFf || !Number.isFinite(u.meanSafe),
    );
    if (!Array.isArray(e?.units) || bad !== undefined)
      throw new SteerError(
        "bad_bundle",
        `${what}: category ${c} has a malformed unit (${JSON.stringify(bad)}): write the file again with \`safesteer neurons\`.`,
      );
  }
  return j;
}

export function readNeurons(path: string): NeuronSet {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new SteerError("bad_bundle", `cannot read neuron file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}.`);
  }
  return parseNeurons(text, path);
}
