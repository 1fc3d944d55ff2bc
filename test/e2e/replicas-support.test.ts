/**
 * The stored-row check of replicas-load.test.ts ("no session ever had two runs at once") on
 * hand-made histories: it must report overlapping runs, including two runs whose commits fell in
 * the same milliseconds, and accept runs one after another and the inputs of one batch.
 */
import { describe, expect, it } from 'vitest';
import { overlappingRuns, type StoredInput } from './replicas-support.js';

function input(id: string, lastRunId: string | null, steps: readonly (readonly [number, string])[]): StoredInput {
  return {
    runtime_id: 'rt:session:s',
    input_id: id,
    idempotency_key: id,
    phase: steps.at(-1)?.[1] ?? 'queued',
    terminal_outcome: null,
    last_run_id: lastRunId,
    history: steps.map(([at, to], i) => ({ at, from: i === 0 ? null : (steps[i - 1]?.[1] ?? null), to, reason: null })),
  };
}

describe('overlappingRuns', () => {
  it('accepts runs one after another, a batch sharing one run, and a run re-queued by a takeover', () => {
    expect(
      overlappingRuns([
        input('a', 'R1', [[0, 'queued'], [10, 'staged'], [20, 'consumed']]),
        input('b', 'R1', [[1, 'queued'], [10, 'staged'], [20, 'consumed']]),
        // Staged on a replica that died; the new owner's recovery re-queued it at 30, then ran it.
        input('c', 'R3', [[2, 'queued'], [20, 'staged'], [30, 'queued'], [40, 'staged'], [50, 'consumed']]),
        input('d', 'R2', [[3, 'queued'], [30, 'staged'], [35, 'consumed']]),
      ]),
    ).toEqual([]);
  });

  it('reports a run that started while an interrupted one had not been re-queued yet', () => {
    expect(
      overlappingRuns([
        input('a', 'R1', [[0, 'queued'], [10, 'staged'], [20, 'consumed']]),
        input('c', 'R3', [[2, 'queued'], [25, 'staged'], [40, 'queued'], [45, 'staged'], [50, 'consumed']]),
        input('d', 'R2', [[3, 'queued'], [30, 'staged'], [35, 'consumed']]),
      ]),
    ).toHaveLength(1);
    // Every later run overlapping a long one is reported, not only the next.
    expect(
      overlappingRuns([
        input('a', null, [[0, 'queued'], [10, 'staged'], [100, 'queued']]),
        input('b', 'R2', [[0, 'queued'], [20, 'staged'], [30, 'consumed']]),
        input('c', 'R3', [[0, 'queued'], [40, 'staged'], [50, 'consumed']]),
      ]),
    ).toHaveLength(2);
  });

  it('reports two different runs at once, even with identical commit times', () => {
    expect(overlappingRuns([input('a', 'R1', [[0, 'queued'], [10, 'staged'], [20, 'consumed']]), input('b', 'R2', [[0, 'queued'], [15, 'staged'], [25, 'consumed']])])).toHaveLength(1);
    expect(overlappingRuns([input('a', 'R1', [[0, 'queued'], [10, 'staged'], [20, 'consumed']]), input('b', 'R2', [[0, 'queued'], [10, 'staged'], [20, 'consumed']])])).toHaveLength(1);
    // A run still open (staged when the rows were read) overlaps everything after it.
    expect(overlappingRuns([input('a', null, [[0, 'queued'], [10, 'staged']]), input('b', 'R2', [[0, 'queued'], [30, 'staged'], [40, 'consumed']])])).toHaveLength(1);
  });
});
