import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type LifecycleInput = { readonly type: 'Initialize' };
/** Effects of this domain. */
export type LifecycleEffect = never;

export const lifecycleArms: ArmTable<LifecycleInput> = {
  Initialize: [{ name: 'Initialize', from: ['Initializing'], guards: [], to: 'Idle' }],
};
