/**
 * Routed input delivery (mob.md §1; scenarios.md COMP-01, COMP-02, COMP-05, COMP-07, COMP-08):
 * `kernel.composition.deliverRoutedInput` maps the mob→kernel routes to reducer inputs and
 * answers refusals as values.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RoutedInput } from '../../src/kernel/commands/composition.js';
import { newId } from '../../src/kernel/ids.js';
import { MeerkatMachine } from '../../src/kernel/machine.js';
import { InMemoryRuntimeStore } from '../../src/kernel/store.js';
import { prompt, registryWith } from './support.js';

let kernel: MeerkatMachine | null = null;
const stores = new WeakMap<MeerkatMachine, InMemoryRuntimeStore>();

/** An in-memory kernel whose store (the signal outbox) the test can read. */
function newKernel(): MeerkatMachine {
  const store = new InMemoryRuntimeStore();
  const k = new MeerkatMachine({ store, executors: registryWith({}), retryBackoffMs: 1 });
  stores.set(k, store);
  return k;
}
afterEach(async () => {
  await kernel?.close();
  kernel = null;
});

async function setup(): Promise<{ k: MeerkatMachine; s: string }> {
  const k = newKernel();
  kernel = k;
  const s = newId();
  await k.session.registerSession(s);
  return { k, s };
}

const signals = (k: MeerkatMachine) => (stores.get(k) as InMemoryRuntimeStore).readSignals(0, 100);

describe('composition: deliverRoutedInput', () => {
  it('COMP-01 a routed binding commits RuntimeBound{agent_runtime_id, fence_token} into the outbox', async () => {
    const { k, s } = await setup();
    const r = await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', fence_token: 11, generation: 3 });
    expect(r).toMatchObject({ accepted: true, kind: 'RequestRuntimeBinding', session_id: s });
    const out = await signals(k);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ sequence: 1, kind: 'RuntimeBound', session_id: s, agent_runtime_id: 'rt-1', fence_token: 11 });
    const st = k.core.session(s).state;
    expect([st.active_runtime_id, st.active_fence_token, st.active_runtime_generation]).toEqual(['rt-1', 11, 3]);
    // Re-delivering the exact binding is idempotent: no second signal.
    const again = await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', fence_token: 11, generation: 3 });
    expect(again.accepted).toBe(true);
    expect(await signals(k)).toHaveLength(1);
  });

  it('COMP-02 local bindings claim nothing; a later routed binding emits the readiness signal', async () => {
    const k = newKernel();
    kernel = k;
    const s = newId();
    const b = await k.session.prepareLocalSessionBindings(s);
    expect(b.session_id).toBe(s);
    expect(await signals(k)).toHaveLength(0);
    expect(k.core.session(s).state.active_runtime_id).toBeNull();
    expect(k.core.session(s).state.active_fence_token).toBeNull();
    const r = await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-authoritative', fence_token: 13, generation: null });
    expect(r.accepted).toBe(true);
    expect(await signals(k)).toMatchObject([{ kind: 'RuntimeBound', agent_runtime_id: 'rt-authoritative', fence_token: 13 }]);
  });

  it('COMP-05 a routed binding without a fence_token is refused INVALID_ARGUMENT naming fence_token', async () => {
    const { k, s } = await setup();
    const route = { kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', generation: 1 } as unknown as RoutedInput;
    const r = await k.composition.deliverRoutedInput(route);
    expect(r).toMatchObject({ accepted: false, code: 'INVALID_ARGUMENT' });
    expect(r.accepted === false && r.message).toContain('fence_token');
    const bad = await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', fence_token: -1, generation: 1 });
    expect(bad).toMatchObject({ accepted: false, code: 'INVALID_ARGUMENT' });
    expect(bad.accepted === false && bad.message).toContain('fence_token');
    expect(await signals(k)).toHaveLength(0);
  });

  it('COMP-07 a routed input for an unregistered session is refused, not thrown', async () => {
    const k = newKernel();
    kernel = k;
    const s = newId();
    const r = await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', fence_token: 1, generation: 0 });
    expect(r).toMatchObject({ accepted: false, code: 'SESSION_NOT_FOUND' });
    expect(r.accepted === false && r.message).toContain('is not registered with this MeerkatMachine; cannot deliver routed input');
    expect(k.session.containsSession(s)).toBe(false);
    for (const kind of ['RequestRuntimeRetire', 'RequestRuntimeDestroy', 'DetachSessionIngress'] as const) {
      expect(await k.composition.deliverRoutedInput({ kind, session_id: s })).toMatchObject({ accepted: false, kind, code: 'SESSION_NOT_FOUND' });
    }
    expect(await signals(k)).toHaveLength(0);
  });

  it('COMP-08 a refused routed binding changes nothing: a conflicting binding leaves the first one and the outbox intact', async () => {
    const { k, s } = await setup();
    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', fence_token: 23, generation: 0 });
    const before = k.core.session(s).state;
    const r = await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-other', fence_token: 24, generation: 0 });
    expect(r).toMatchObject({ accepted: false, code: 'GUARD_REJECTED' });
    expect(k.core.session(s).state).toBe(before);
    expect(await signals(k)).toHaveLength(1);
  });

  it('COMP-03 ingress with the exact binding is admitted; a stale fence or runtime is refused and admits nothing', async () => {
    const { k, s } = await setup();
    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', fence_token: 11, generation: 3 });
    const base = { kind: 'RequestRuntimeIngress', session_id: s, agent_runtime_id: 'rt-1', fence_token: 11, generation: 3, work_id: 'w-42' } as const;
    const ok = await k.composition.deliverRoutedInput({ ...base, input: prompt('hello') });
    expect(ok).toMatchObject({ accepted: true, kind: 'RequestRuntimeIngress', deduplicated: false });
    expect(k.session.listActiveInputs(s)).toEqual([ok.accepted ? ok.input_id : '']);
    const stale = await k.composition.deliverRoutedInput({ ...base, fence_token: 10, input: prompt('stale') });
    expect(stale).toMatchObject({ accepted: false, code: 'GUARD_REJECTED' });
    expect(stale.accepted === false && stale.message).toContain('fence_binding_exact');
    const otherRuntime = await k.composition.deliverRoutedInput({ ...base, agent_runtime_id: 'rt-2', input: prompt('other') });
    expect(otherRuntime).toMatchObject({ accepted: false, code: 'GUARD_REJECTED' });
    expect(k.session.listActiveInputs(s)).toHaveLength(1);
  });

  it('COMP-03 retire and destroy routes put RuntimeRetired and RuntimeDestroyed in the outbox with sequences', async () => {
    const { k, s } = await setup();
    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'rt-1', fence_token: 5, generation: 1 });
    expect(await k.composition.deliverRoutedInput({ kind: 'DetachSessionIngress', session_id: s })).toMatchObject({ accepted: true });
    expect(await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeRetire', session_id: s })).toMatchObject({ accepted: true, inputs_abandoned: 0 });
    expect(k.control.runtimeState(k.core.session(s).runtimeId)).toBe('retired');
    expect(await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeDestroy', session_id: s })).toMatchObject({ accepted: true });
    const out = await signals(k);
    expect(out.map((x) => [x.sequence, x.kind, x.agent_runtime_id, x.fence_token])).toEqual([
      [1, 'RuntimeBound', 'rt-1', 5],
      [2, 'RuntimeRetired', 'rt-1', 5],
      [3, 'RuntimeDestroyed', 'rt-1', 5],
    ]);
    // A second destroy is a refusal answer, not an exception.
    expect(await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeDestroy', session_id: s })).toMatchObject({ accepted: false, code: 'RUNTIME_DESTROYED' });
  });
});
