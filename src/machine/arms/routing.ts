import type { ArmTable } from '../arm.js';

/** Inputs of this domain (placeholder until the domain lands). */
export type RoutingInput = never;
/** Effects of this domain. */
export type RoutingEffect = never;

export const routingArms: ArmTable<RoutingInput> = {};
