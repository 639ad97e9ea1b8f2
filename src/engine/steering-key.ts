// When two requests' K/V cells are interchangeable: the same tokens decoded under the same steering.
import type { SteeringVector } from "./context.js";

/** Whether two requests steer identically (same sites, layers, strengths, vectors and unit scales, in order). */
export function sameSteering(a: SteeringVector[], b: SteeringVector[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i] as SteeringVector;
    if (x.site !== y.site || x.layer !== y.layer || (x.strength ?? 1) !== (y.strength ?? 1) || x.via !== y.via) return false;
    if (x.seq !== undefined || y.seq !== undefined || x.vector.length !== y.vector.length) return false;
    return (
      sameArray(x.vector, y.vector) &&
      (x.scale === y.scale || (x.scale !== undefined && y.scale !== undefined && sameArray(x.scale, y.scale)))
    );
  });
}

function sameArray(a: Float32Array, b: Float32Array): boolean {
  return a === b || (a.length === b.length && a.every((v, k) => v === b[k]));
}
