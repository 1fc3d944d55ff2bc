import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type VisibilityInput = never;
/** Effects of this domain. */
export type VisibilityEffect = never;

export const visibilityArms: ArmTable<VisibilityInput> = {};
