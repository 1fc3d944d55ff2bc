import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type AdmissionInput = never;
/** Effects of this domain. */
export type AdmissionEffect = never;

export const admissionArms: ArmTable<AdmissionInput> = {};
