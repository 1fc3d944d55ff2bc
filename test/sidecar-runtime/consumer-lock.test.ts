/**
 * Only one active signal consumer per PostgreSQL database (skipped without a server): a second
 * sidecar's `acquireConsumerLock` reports that it waits and obtains the lock only after the
 * holder released it (or its connection ended).
 */
import { describe, expect, it } from 'vitest';
import { acquireConsumerLock } from '../../sidecar/store/consumer-lock.js';
import { postgresReachable } from './support.js';

const URL_ = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

describe.skipIf(!postgresReachable)('consumer lock (PostgreSQL advisory lock)', () => {
  it('a second consumer waits until the first releases the lock', async () => {
    const lost: Error[] = [];
    const first = await acquireConsumerLock(URL_, { onLost: (e) => lost.push(e) });
    const order: string[] = [];
    let waiting!: () => void;
    const isWaiting = new Promise<void>((r) => (waiting = r));
    const second = acquireConsumerLock(URL_, {
      onWaiting: () => {
        order.push('second waits');
        waiting();
      },
      onLost: (e) => lost.push(e),
    }).then((l) => {
      order.push('second holds');
      return l;
    });
    await isWaiting;
    order.push('first releases');
    await first.release();
    const held = await second;
    expect(order).toEqual(['second waits', 'first releases', 'second holds']);
    await held.release();
    expect(lost).toEqual([]);
  });
});
