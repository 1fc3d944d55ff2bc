import type { ArmTable } from './arm.js';
import { admissionArms } from './arms/admission.js';
import { completionArms } from './arms/completion.js';
import { drainArms } from './arms/drain.js';
import { inputLifecycleArms } from './arms/input-lifecycle.js';
import { lifecycleArms } from './arms/lifecycle.js';
import { opsArms } from './arms/ops.js';
import { recoveryArms } from './arms/recovery.js';
import { routingArms } from './arms/routing.js';
import { runArms } from './arms/runs.js';
import { visibilityArms } from './arms/visibility.js';
import type { MachineInput } from './inputs.js';

/**
 * The whole transition table: for every input variant its ordered arms.
 * This is data — `docs/commands.md` and the phase-legality tests read it.
 */
export const TRANSITIONS: ArmTable<MachineInput> = {
  ...lifecycleArms,
  ...admissionArms,
  ...inputLifecycleArms,
  ...runArms,
  ...completionArms,
  ...opsArms,
  ...drainArms,
  ...visibilityArms,
  ...routingArms,
  ...recoveryArms,
};
