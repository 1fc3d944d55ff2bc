/**
 * Property tests of the whole reducer (machine.md §9): random command
 * sequences drawn from every domain's arbitrary; after each step
 *  - an accepted transition leaves every §9.1 invariant (and the derived
 *    state-checkable §9.2 properties) holding;
 *  - a rejection returns the very same state, byte-for-byte, and no effects;
 *  - the reducer is deterministic (same state + input ⇒ same result);
 *  - monotonic counters never decrease outside recovery inputs (§9.2 items 6, 12, 16, 17).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkInvariants } from '../../src/machine/invariants.js';
import { initialMachineState, reduce, type MachineInput, type MachineState } from '../../src/machine/index.js';
import { sequence } from './arbitraries/any.js';

const RECOVERY_INPUTS = new Set<string>([
  'RecoverInputLifecycle',
  'RecoverAdmittedInput',
  'RecoverOpRecord',
  'RecoverCompletionFeedEntry',
  'RecoverOpsCompletionCursor',
  'RecoverCompletionConsumerCursors',
  'RecoverRuntimeCompletionResultCorrelation',
  'ReplaceVisibilityState',
  'PublishCommittedVisibleSet',
]);

function monotonicViolations(before: MachineState, after: MachineState, input: MachineInput): string[] {
  if (RECOVERY_INPUTS.has(input.type)) return [];
  const out: string[] = [];
  const nonDecreasing: (keyof MachineState)[] = [
    'next_admission_seq',
    'boundary_cancel_dispatch_generation',
    'next_completion_seq',
    'completion_agent_applied_cursor',
    'completion_runtime_observed_cursor',
    'completion_runtime_injected_cursor',
    'next_staged_visibility_revision',
    'model_routing_topology_epoch',
  ];
  for (const f of nonDecreasing) {
    if ((after[f] as number) < (before[f] as number)) out.push(`${String(f)} decreased`);
  }
  if (after.next_priority_admission_seq > before.next_priority_admission_seq) out.push('next_priority_admission_seq increased');
  return out;
}

describe('reducer properties (machine.md §9)', () => {
  it('invariants hold after every accepted transition; rejections change nothing; the reducer is deterministic', () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(sequence, (inputs) => {
        let state = initialMachineState();
        for (const input of inputs) {
          const snapshot = JSON.stringify(state);
          const step = reduce(state, input);
          const again = reduce(state, input);
          expect(JSON.stringify(again)).toBe(JSON.stringify(step));
          if (!step.ok) {
            rejected += 1;
            expect(JSON.stringify(state)).toBe(snapshot);
            expect(step.input).toBe(input.type);
            expect(step.phase).toBe(state.lifecycle_phase);
            if (step.kind === 'GuardRejected') expect(step.guard).not.toBeNull();
            continue;
          }
          accepted += 1;
          // The input's own state object is never mutated.
          expect(JSON.stringify(state)).toBe(snapshot);
          const violations = checkInvariants(step.state);
          if (violations.length > 0) {
            throw new Error(
              `invariants violated after ${step.transition} (${input.type}): ${JSON.stringify(violations)}\ninput: ${JSON.stringify(input)}`,
            );
          }
          const mono = monotonicViolations(state, step.state, input);
          if (mono.length > 0) throw new Error(`${step.transition}: ${mono.join(', ')}`);
          state = step.state;
        }
      }),
      { numRuns: 400 },
    );
    // The generators must actually exercise the machine, not just bounce off it.
    expect(accepted).toBeGreaterThan(2000);
    expect(rejected).toBeGreaterThan(0);
  });

  it('reaches every lifecycle phase from random sequences', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(sequence, (inputs) => {
        let state = initialMachineState();
        for (const input of inputs) {
          const step = reduce(state, input);
          if (step.ok) state = step.state;
          seen.add(state.lifecycle_phase);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
    expect([...seen].sort()).toEqual(['Attached', 'Destroyed', 'Idle', 'Initializing', 'Retired', 'Running', 'Stopped']);
  });
});
