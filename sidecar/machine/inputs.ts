import type { HealthInput } from './arms/health.js';
import type { KickoffInput } from './arms/kickoff.js';
import type { LifecycleInput } from './arms/lifecycle.js';
import type { ReadinessInput } from './arms/readiness.js';
import type { RetirementInput } from './arms/retirement.js';
import type { SeamInput } from './arms/seam.js';
import type { SpawnInput } from './arms/spawn.js';
import type { WiringInput } from './arms/wiring.js';
import type { WorkInput } from './arms/work.js';

/** Every input (and signal) the MobMachine reducer accepts, discriminated by `type`. */
export type MobInput =
  | LifecycleInput
  | SpawnInput
  | ReadinessInput
  | KickoffInput
  | WorkInput
  | RetirementInput
  | WiringInput
  | HealthInput
  | SeamInput;

export type MobInputType = MobInput['type'];
export type MobInputOfType<K extends MobInputType> = Extract<MobInput, { readonly type: K }>;
