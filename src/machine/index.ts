export * from './state.js';
export * from './arm.js';
export * from './collections.js';
export type { MachineInput, MachineInputType, InputOfType } from './inputs.js';
export type { Effect, EffectType, EffectOfType, RoutedEffectType } from './effects.js';
export { ROUTED_EFFECT_TYPES } from './effects.js';
export { TRANSITIONS } from './transitions.js';
export { reduce, describeRejection } from './reduce.js';
export type { Step, Transition, Rejection, GuardFailure } from './reduce.js';
