import type { RecoveryEffect } from './arms/recovery.js';
import type { AdmissionEffect } from './arms/admission.js';
import type { CompletionEffect } from './arms/completion.js';
import type { DrainEffect } from './arms/drain.js';
import type { InputLifecycleEffect } from './arms/input-lifecycle.js';
import type { LifecycleEffect } from './arms/lifecycle.js';
import type { OpsEffect } from './arms/ops.js';
import type { RoutingEffect } from './arms/routing.js';
import type { RunEffect } from './arms/runs.js';
import type { VisibilityEffect } from './arms/visibility.js';

/** Every effect a transition can emit (`machine.md` §8.3), discriminated by `type`. */
export type Effect =
  | LifecycleEffect
  | AdmissionEffect
  | InputLifecycleEffect
  | RunEffect
  | CompletionEffect
  | OpsEffect
  | DrainEffect
  | VisibilityEffect
  | RoutingEffect
  | RecoveryEffect;

export type EffectType = Effect['type'];
export type EffectOfType<K extends EffectType> = Extract<Effect, { readonly type: K }>;

/** The routed effects that become durable composition signals (decision 5). */
export const ROUTED_EFFECT_TYPES = ['RuntimeBound', 'RuntimeRetired', 'RuntimeDestroyed'] as const;
export type RoutedEffectType = (typeof ROUTED_EFFECT_TYPES)[number];
