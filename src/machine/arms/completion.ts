import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type CompletionInput = never;
/** Effects of this domain. */
export type CompletionEffect = never;

export const completionArms: ArmTable<CompletionInput> = {};
