export * from './state.js';
export * from './arm.js';
export * from './effects.js';
export type { MobInput, MobInputType, MobInputOfType } from './inputs.js';
export type * from './arms/lifecycle.js';
export type * from './arms/spawn.js';
export type * from './arms/readiness.js';
export type * from './arms/kickoff.js';
export type * from './arms/work.js';
export type * from './arms/retirement.js';
export type * from './arms/wiring.js';
export type * from './arms/health.js';
export type * from './arms/seam.js';
export { intentTakeoverCompatible, PARKED_INTENTS } from './arms/lifecycle.js';
export { classifyHealth, healthOf } from './arms/health.js';
export { SIGNAL_INPUT_FOR } from './arms/seam.js';
export { MOB_TRANSITIONS } from './transitions.js';
export { reduceMob, describeMobRejection } from './reduce.js';
export type { MobStep, MobTransition, MobRejection, MobGuardFailure } from './reduce.js';
export {
  checkMobInvariants,
  assertMobInvariants,
  checkMobTransitionInvariants,
  MOB_INVARIANT_NAMES,
  DERIVED_MOB_INVARIANT_NAMES,
} from './invariants.js';
export type { MobInvariantViolation } from './invariants.js';
export { memberStatus, memberView, listMembers, allReady, FINAL_MEMBER_STATUSES } from './status.js';
export type { MemberStatus, MemberStatusView, MemberView, StartupStage } from './status.js';
export { foldSignal, signalInput, refusalClosure } from './signals.js';
export type { KernelSignal, SignalInput, FoldOutcome, ConsumerRefusal } from './signals.js';
export { normalizeEdge, wiredTo, activeMembers } from './helpers.js';
