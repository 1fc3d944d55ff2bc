import type { ArmTable } from './arm.js';
import { healthArms } from './arms/health.js';
import { kickoffArms } from './arms/kickoff.js';
import { lifecycleArms } from './arms/lifecycle.js';
import { readinessArms } from './arms/readiness.js';
import { retirementArms } from './arms/retirement.js';
import { seamArms } from './arms/seam.js';
import { spawnArms } from './arms/spawn.js';
import { wiringArms } from './arms/wiring.js';
import { workArms } from './arms/work.js';
import type { MobInput } from './inputs.js';

/**
 * The whole MobMachine transition table: for every input variant its ordered arms
 * (first matching arm wins). This is data — tests and docs read it.
 */
export const MOB_TRANSITIONS: ArmTable<MobInput> = {
  ...lifecycleArms,
  ...spawnArms,
  ...readinessArms,
  ...kickoffArms,
  ...workArms,
  ...retirementArms,
  ...wiringArms,
  ...healthArms,
  ...seamArms,
};
