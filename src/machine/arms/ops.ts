import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type OpsInput = never;
/** Effects of this domain. */
export type OpsEffect = never;

export const opsArms: ArmTable<OpsInput> = {};
