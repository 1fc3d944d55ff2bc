import type { MachineState, ToolFilter, ToolVisibilityWitness } from '../../machine/index.js';

/** The public shape of a session's tool visibility (commands.md §2.11). */
export interface SessionToolVisibilityState {
  readonly inherited_base_filter: ToolFilter;
  readonly active_filter: ToolFilter;
  readonly staged_filter: ToolFilter;
  readonly active_requested_deferred_names: readonly string[];
  readonly staged_requested_deferred_names: readonly string[];
  readonly active_revision: number;
  readonly staged_revision: number;
  readonly requested_witnesses: Readonly<Record<string, ToolVisibilityWitness>>;
  readonly filter_witnesses: Readonly<Record<string, ToolVisibilityWitness>>;
}

/** Projects the machine's visibility fields. */
export function visibilityOf(s: MachineState): SessionToolVisibilityState {
  return {
    inherited_base_filter: s.inherited_base_filter,
    active_filter: s.active_filter,
    staged_filter: s.staged_filter,
    active_requested_deferred_names: s.active_deferred_names,
    staged_requested_deferred_names: s.staged_deferred_names,
    active_revision: s.active_visibility_revision,
    staged_revision: s.staged_visibility_revision,
    requested_witnesses: { ...s.requested_visibility_witnesses, ...s.active_deferred_authorities, ...s.staged_deferred_authorities },
    filter_witnesses: s.filter_visibility_witnesses,
  };
}
