import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type RunInput = never;
/** Effects of this domain. */
export type RunEffect = never;

export const runArms: ArmTable<RunInput> = {};
