import type { RecoveryInput } from './arms/recovery.js';
import type { AdmissionInput } from './arms/admission.js';
import type { CompletionInput } from './arms/completion.js';
import type { DrainInput } from './arms/drain.js';
import type { InputLifecycleInput } from './arms/input-lifecycle.js';
import type { LifecycleInput } from './arms/lifecycle.js';
import type { OpsInput } from './arms/ops.js';
import type { RoutingInput } from './arms/routing.js';
import type { RunInput } from './arms/runs.js';
import type { VisibilityInput } from './arms/visibility.js';

/** Every input (and signal) the reducer accepts, discriminated by `type`. */
export type MachineInput =
  | LifecycleInput
  | AdmissionInput
  | InputLifecycleInput
  | RunInput
  | CompletionInput
  | OpsInput
  | DrainInput
  | VisibilityInput
  | RoutingInput
  | RecoveryInput;

export type MachineInputType = MachineInput['type'];
export type InputOfType<K extends MachineInputType> = Extract<MachineInput, { readonly type: K }>;
