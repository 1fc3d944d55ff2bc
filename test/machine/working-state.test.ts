/**
 * `WorkingState` (the transaction fast path) against `reduce` (the reference): for random command
 * sequences from every domain, each step gives the same outcome, transition, effects and state,
 * and the base state — deep-frozen, so that any write into a shared object throws — is never
 * modified. `settle` restores sharing without changing content. A chain of installed transactions
 * (`installInputFacts`, which may update the session's own per-input maps in place) ends in the
 * reference state, never touches a map it did not make, and leaves a rolled-back transaction's base
 * as it was.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { INPUT_FACT_FIELDS, initialMachineState, reduce, type MachineInput, type MachineState } from '../../src/machine/index.js';
import { installInputFacts, WorkingState } from '../../src/machine/working-state.js';
import { sequence } from './arbitraries/any.js';

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

function reduceAll(state: MachineState, inputs: readonly MachineInput[]): MachineState {
  let s = structuredClone(state);
  for (const input of inputs) {
    const step = reduce(s, input);
    if (step.ok) s = step.state;
  }
  return s;
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
          expect(JSON.stringify(work.settle(base))).toBe(JSON.stringify(reference));
        }
        expect(JSON.stringify(base)).toBe(baseJson);
        const settled = work.settle(base);
        expect(JSON.stringify(settled)).toBe(JSON.stringify(reference));
        // Unchanged containers (per-input maps aside: not compared by reference) are the base's own objects again.
        for (const [field, value] of Object.entries(base)) {
          if ((INPUT_FACT_FIELDS as readonly string[]).includes(field)) continue;
          const after = (settled as unknown as Record<string, unknown>)[field];
          if (value !== null && typeof value === 'object' && JSON.stringify(after) === JSON.stringify(value)) expect(after).toBe(value);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('installed transactions chain like reduce: only maps they made are updated in place, rollbacks change nothing', () => {
    fc.assert(
      fc.property(sequence, fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 30 }), fc.array(fc.boolean(), { maxLength: 30 }), (inputs, sizes, rollbacks) => {
        const first = deepFreeze(initialMachineState());
        let reference: MachineState = structuredClone(first);
        let installed: MachineState = first;
        let at = 0;
        for (const [t, size] of sizes.entries()) {
          const chunk = inputs.slice(at, at + size);
          at += size;
          if (chunk.length === 0) break;
          const beforeJson = JSON.stringify(installed);
          const work = new WorkingState(installed);
          for (const input of chunk) work.apply(input);
          const settled = work.settle(installed);
          if (rollbacks[t] === true) {
            // Dropped transaction: its base reads exactly as before, overlays and all.
            expect(JSON.stringify(installed)).toBe(beforeJson);
            continue;
          }
          for (const input of chunk) {
            const step = reduce(reference, input);
            if (step.ok) reference = step.state;
          }
          installed = installInputFacts(settled);
          expect(JSON.stringify(installed)).toBe(JSON.stringify(reference));
          for (const f of INPUT_FACT_FIELDS) {
            const v = (installed as unknown as Record<string, unknown>)[f];
            // Plain again: a proxy would fail structuredClone.
            expect(() => structuredClone(v)).not.toThrow();
          }
        }
        // The frozen first state was copied, never written into (deepFreeze makes a write throw).
        expect(JSON.stringify(first)).toBe(JSON.stringify(initialMachineState()));
      }),
      { numRuns: 200 },
    );
  });

  it('copies only the containers arms reach, and settles untouched ones back to the base objects', () => {
    const base = deepFreeze(initialMachineState());
    const work = new WorkingState(base);
    expect(work.apply({ type: 'Initialize' }).ok).toBe(true);
    const settled = work.settle(base);
    expect(settled.lifecycle_phase).toBe('Idle');
    // Initialize touches no per-input map: they are the base's (frozen) objects, never copied.
    expect(settled.input_phases).toBe(base.input_phases);
    // A container an arm writes is a fresh, writable copy.
    expect(work.apply({ type: 'RegisterSession', session_id: 's-1', runtime_epoch_id: 'epoch-1' }).ok).toBe(true);
    expect(Object.isFrozen(work.state.input_phases)).toBe(false);
    expect(JSON.stringify(work.settle(base))).toBe(JSON.stringify(reduceAll(base, [{ type: 'Initialize' }, { type: 'RegisterSession', session_id: 's-1', runtime_epoch_id: 'epoch-1' }])));
  });
});
