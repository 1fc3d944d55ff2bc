import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type InputLifecycleInput = never;
/** Effects of this domain. */
export type InputLifecycleEffect = never;

export const inputLifecycleArms: ArmTable<InputLifecycleInput> = {};
