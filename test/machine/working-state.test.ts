/**
 * `WorkingState` (the transaction fast path) against `reduce` (the reference): for random command
 * sequences from every domain, each step gives the same outcome, transition, effects and state,
 * and the base state — deep-frozen, so that any write into a shared object throws — is never
 * modified. `settle` restores sharing without changing content.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialMachineState, reduce, type MachineState } from '../../src/machine/index.js';
import { WorkingState } from '../../src/machine/working-state.js';
import { sequence } from './arbitraries/any.js';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

describe('WorkingState', () => {
  it('agrees with reduce step by step and never writes into the state it started from', () => {
    fc.assert(
      fc.property(sequence, fc.integer({ min: 0, max: 79 }), (inputs, split) => {
        // Reach a base state with the reference reducer, freeze it, then continue both ways.
        let base: MachineState = initialMachineState();
        const cut = Math.min(split, inputs.length);
        for (const input of inputs.slice(0, cut)) {
          const step = reduce(base, input);
          if (step.ok) base = step.state;
        }
        const baseJson = JSON.stringify(base);
        // The reference runs on its own copy (its proxies cannot wrap frozen objects).
        let reference: MachineState = structuredClone(base);
        deepFreeze(base);
        const work = new WorkingState(base);
        for (const input of inputs.slice(cut)) {
          const expected = reduce(reference, input);
          const actual = work.apply(input);
          expect(actual.ok).toBe(expected.ok);
          if (expected.ok && actual.ok) {
            expect(actual.transition).toBe(expected.transition);
            expect(actual.to).toBe(expected.to);
            expect(JSON.stringify(actual.effects)).toBe(JSON.stringify(expected.effects));
            reference = expected.state;
          } else {
            expect(actual).toEqual(expected);
          }
          expect(JSON.stringify(work.state)).toBe(JSON.stringify(reference));
        }
        expect(JSON.stringify(base)).toBe(baseJson);
        const settled = work.settle(base);
        expect(JSON.stringify(settled)).toBe(JSON.stringify(reference));
        // Unchanged containers are the base's own objects again.
        for (const [field, value] of Object.entries(base)) {
          const after = (settled as unknown as Record<string, unknown>)[field];
          if (value !== null && typeof value === 'object' && JSON.stringify(after) === JSON.stringify(value)) expect(after).toBe(value);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('copies a container an arm hands over before a later step writes into it', () => {
    const work = new WorkingState(initialMachineState());
    expect(work.apply({ type: 'Initialize' }).ok).toBe(true);
    const before = work.state.input_phases;
    expect(work.apply({ type: 'RegisterSession', session_id: 's-1', runtime_epoch_id: 'epoch-1' }).ok).toBe(true);
    // The working copy owns its containers: the object seen earlier is still the one in place, never a base object.
    expect(work.state.input_phases).toBe(before);
    expect(Object.isFrozen(work.state.input_phases)).toBe(false);
  });
});
