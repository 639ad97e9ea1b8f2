// Okabe and Ito's palette: its colours stay apart under every common colour blindness. Unsteered is
// always the orange, steered the blue, so the two read the same in the playground and in reports.
export const UNSTEERED = "#E69F00";
export const STEERED = "#0072B2";
export const OTHERS = ["#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];

/** A colour per condition: the baseline orange, the first steered condition blue, the rest in turn. */
export function conditionColors(conditions: string[], baseline: string): string[] {
  let k = 0;
  return conditions.map((c) => (c === baseline ? UNSTEERED : k++ === 0 ? STEERED : (OTHERS[(k - 2) % OTHERS.length] as string)));
}
