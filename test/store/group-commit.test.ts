/** Unit tests of the group-commit queue (src/store/group-commit.ts), without a database. */
import { describe, expect, it } from 'vitest';
import { GroupCommitter, type WriteOutcome } from '../../src/store/group-commit.js';

interface Item {
  readonly key: string;
  readonly value: number;
  readonly poison?: 'refused' | 'lost' | 'own';
}

class RefusedError extends Error {}

function harness(maxBatchSize = 256) {
  const batches: number[][] = [];
  const committer = new GroupCommitter<Item, number>({
    maxBatchSize,
    keyOf: (i) => i.key,
    writeBatch: async (batch) => {
      batches.push(batch.map((i) => i.value));
      await new Promise((r) => setTimeout(r, 1));
      if (batch.some((i) => i.poison === 'lost')) throw new Error('connection lost');
      if (batch.some((i) => i.poison === 'refused')) throw new RefusedError('refused');
      return batch.map((i): WriteOutcome<number> => (i.poison === 'own' ? { ok: false, error: new Error(`own failure ${i.value}`) } : { ok: true, value: i.value * 10 }));
    },
    isSplittable: (e) => e instanceof RefusedError,
    failure: (e, i) => new Error(`item ${i.value}: ${e instanceof Error ? e.message : String(e)}`),
  });
  return { committer, batches };
}

describe('GroupCommitter', () => {
  it('writes submitted in the same tick share one batch; later ones wait for the next flush', async () => {
    const { committer, batches } = harness();
    const first = [1, 2, 3].map((v) => committer.submit({ key: `k${v}`, value: v }));
    await Promise.resolve();
    const second = [4, 5].map((v) => committer.submit({ key: `k${v}`, value: v }));
    expect(await Promise.all([...first, ...second])).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([[1, 2, 3], [4, 5]]);
    expect(committer.counters).toMatchObject({ submitted: 5, batches: 2, largestBatch: 3, splitBatches: 0 });
  });

  it('respects maxBatchSize; two writes of one key never share a batch or fly together, and keep their order', async () => {
    const { committer, batches } = harness(3);
    const keys = ['a', 'b', 'a', 'c', 'd', 'e', 'f'];
    const order: number[] = [];
    await Promise.all(keys.map((key, value) => committer.submit({ key, value }).then(() => order.push(value))));
    expect(batches.every((b) => b.length <= 3)).toBe(true);
    for (const b of batches) expect(new Set(b.map((v) => keys[v])).size).toBe(b.length);
    expect(batches.flat().sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(order.indexOf(0)).toBeLessThan(order.indexOf(2));
    expect(batches.findIndex((b) => b.includes(0))).toBeLessThan(batches.findIndex((b) => b.includes(2)));
  });

  it('many keys that each write again after their last commit are split across the transaction slots', async () => {
    const { committer, batches } = harness();
    const keys = Array.from({ length: 64 }, (_, k) => `k${k}`);
    // Like 64 sessions each waiting for their commit before the next: without the split they all
    // land in one batch every time and only one of the two slots is ever busy.
    await Promise.all(
      keys.map(async (key, k) => {
        for (let round = 0; round < 12; round++) await committer.submit({ key, value: k * 100 + round });
      }),
    );
    expect(batches.flat()).toHaveLength(64 * 12);
    // The first batch sees only what was submitted before any key counted as active; after it,
    // no batch carries more than half of the 64 active keys.
    expect(batches.slice(1).every((b) => b.length <= 32)).toBe(true);
    expect(Math.max(...batches.slice(1).map((b) => b.length))).toBe(32);
  });

  it('a burst smaller than minSplitBatch per slot stays one batch', async () => {
    const { committer, batches } = harness();
    await Promise.all(Array.from({ length: 14 }, (_, v) => committer.submit({ key: `k${v}`, value: v })));
    expect(batches).toEqual([Array.from({ length: 14 }, (_, v) => v)]);
  });

  it('a refused batch is retried one write at a time, so only the offending write fails', async () => {
    const { committer, batches } = harness();
    const results = await Promise.allSettled([1, 2, 3].map((v) => committer.submit({ key: `k${v}`, value: v, ...(v === 2 ? { poison: 'refused' as const } : {}) })));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((results[1] as PromiseRejectedResult).reason)).toMatch(/item 2: refused/);
    expect(batches).toEqual([[1, 2, 3], [1], [2], [3]]);
    expect(committer.counters.splitBatches).toBe(1);
  });

  it('a write that fails on its own inside a committed batch does not fail the others', async () => {
    const { committer, batches } = harness();
    const results = await Promise.allSettled([1, 2].map((v) => committer.submit({ key: `k${v}`, value: v, ...(v === 1 ? { poison: 'own' as const } : {}) })));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
    expect(batches).toEqual([[1, 2]]);
  });

  it('a connection failure (outcome unknown) fails the whole batch without retrying', async () => {
    const { committer, batches } = harness();
    const results = await Promise.allSettled([1, 2].map((v) => committer.submit({ key: `k${v}`, value: v, ...(v === 1 ? { poison: 'lost' as const } : {}) })));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(batches).toEqual([[1, 2]]);
  });

  it('close waits for queued writes and refuses new ones', async () => {
    const { committer } = harness();
    const pending = committer.submit({ key: 'a', value: 1 });
    const closed = committer.close();
    await expect(committer.submit({ key: 'b', value: 2 })).rejects.toThrow(/closed/);
    await closed;
    expect(await pending).toBe(10);
  });
});
