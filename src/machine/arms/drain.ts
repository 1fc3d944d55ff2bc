import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type DrainInput = never;
/** Effects of this domain. */
export type DrainEffect = never;

export const drainArms: ArmTable<DrainInput> = {};
