/**
 * LISTEN/NOTIFY wake of the signal feed on a real PostgreSQL server (skipped when none answers at
 * `TEST_DATABASE_URL`): two store instances on one scratch database stand for two kernel
 * processes. The subscriber's fallback poll is 60 s, longer than the test's timeout, so a signal
 * committed through the *other* store can only reach it through the NOTIFY the outbox trigger
 * (migration 0004) sends at commit. The same setup with `listenForSignals: false` shows the
 * second signal is not delivered by anything else (its feed is only polled at subscribe time).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RoutedSignal } from '../../src/kernel/store.js';
import { createStores, SignalNotifications, type Stores } from '../../src/store/index.js';
import { commitOf, eventually, freshIds, signalOf } from './contract.js';
import { databaseUrl, tryAdminQuery as admin } from '../support/postgres.js';


const dbName = `meerkat_notify_${randomBytes(6).toString('hex')}`;
const reachable = await admin(`CREATE DATABASE ${dbName}`);
const url = databaseUrl(dbName);

describe.skipIf(!reachable)('signal feed woken by LISTEN/NOTIFY (PostgreSQL)', () => {
  const open: Stores[] = [];
  const listeners: SignalNotifications[] = [];

  beforeAll(async () => {
    const migrate = await createStores({ databaseUrl: url, listenForSignals: false });
    await migrate.close();
  });

  afterAll(async () => {
    for (const l of listeners) await l.close();
    for (const s of open) await s.close();
    await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  });

  async function stores(listen: boolean): Promise<Stores> {
    const s = await createStores({ databaseUrl: url, pollIntervalMs: 60_000, listenForSignals: listen });
    open.push(s);
    return s;
  }

  it('a signal committed by another store instance reaches a subscriber without waiting for the poll', async () => {
    const subscriberSide = await stores(true);
    const committerSide = await stores(true);
    const seen: RoutedSignal[] = [];
    const first = freshIds();
    const [s1] = await committerSide.store.commit(commitOf(first, { signals: [signalOf(first)] }));
    subscriberSide.store.subscribe((s1?.sequence ?? 1) - 1, (s) => seen.push(s));
    await eventually(() => expect(seen.map((s) => s.session_id)).toContain(first.sessionId), 10_000);
    // The subscriber's loop has read the outbox and sleeps for 60 s: only a NOTIFY can wake it now.
    const second = freshIds();
    await committerSide.store.commit(commitOf(second, { signals: [signalOf(second, 'RuntimeRetired')] }));
    await eventually(() => expect(seen.map((s) => s.session_id)).toContain(second.sessionId), 10_000);
    expect(seen.map((s) => s.sequence)).toEqual([...seen.map((s) => s.sequence)].sort((a, b) => a - b));
  }, 30_000);

  it('SignalNotifications calls back once per committed signal transaction, never for a rolled-back one', async () => {
    const committerSide = await stores(false);
    let wakes = 0;
    const listener = await SignalNotifications.start(url, () => (wakes += 1));
    listeners.push(listener);
    const afterConnect = wakes; // one wake right after LISTEN
    expect(afterConnect).toBe(1);
    const ids = freshIds();
    await committerSide.store.commit(commitOf(ids, { signals: [signalOf(ids), signalOf(ids, 'RuntimeRetired')] }));
    await eventually(() => expect(listener.notifications).toBe(1), 10_000);
    // A rolled-back insert notifies nobody; the commit that follows it does (and arrives after it).
    await committerSide.db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('meerkat_signal_outbox').values({ sequence: 1_000_000, kind: 'RuntimeBound', session_id: ids.sessionId, runtime_id: ids.runtimeId, agent_runtime_id: 'x', fence_token: 1, trace_context: null, created_at: 1 }).execute();
        throw new Error('roll back');
      })
      .catch(() => undefined);
    const later = freshIds();
    await committerSide.store.commit(commitOf(later, { signals: [signalOf(later)] }));
    await eventually(() => expect(listener.notifications).toBe(2), 10_000);
    expect(wakes).toBe(afterConnect + 2);
  }, 30_000);
});
