// Tests that switch steering on and off many times on one context, through the public scoped entry.
import type { Context, SteeringPlan, SteeringVector } from "../../src/engine/context.js";
import { type Steering, steer } from "../../src/steer/apply.js";

export function steeringSwitch(ctx: Context) {
  let live: Steering | undefined;
  const clear = () => {
    live?.release();
    live = undefined;
  };
  const set = async (vectors: SteeringVector[]): Promise<SteeringPlan> => {
    clear();
    live = await steer(ctx, { vectors });
    return live.plan;
  };
  return { set, clear };
}
