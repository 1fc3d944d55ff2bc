/**
 * Routed input delivery (mob.md §1; scenarios.md COMP-01, COMP-02, COMP-05, COMP-07, COMP-08):
 * `kernel.composition.deliverRoutedInput` maps the mob→kernel routes to reducer inputs and
 * answers refusals as values. The peer-message route (decision 9) stores into the receiver's
 * durable peer inbox; its drain admits the message as a peer input.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RoutedInput } from '../../src/kernel/commands/composition.js';
import { newId } from '../../src/kernel/ids.js';
import { MeerkatMachine } from '../../src/kernel/machine.js';
import { InMemoryRuntimeStore } from '../../src/kernel/store.js';
import type { Input } from '../../src/kernel/input.js';
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

const peerBody = (text: string): Input => ({ body: { input_type: 'peer', convention: { type: 'message' }, body: text } });

async function waitUntil(predicate: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i += 1) {
    if (predicate()) return;
    await new Promise<void>((r) => setTimeout(r, 2));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('composition: the DeliverPeerMessage route (decision 9)', () => {
  const peerRoute = (s: string, input: Input, extra: Partial<Extract<RoutedInput, { kind: 'DeliverPeerMessage' }>> = {}): RoutedInput => ({
    kind: 'DeliverPeerMessage',
    session_id: s,
    sender: 'alice',
    sender_runtime_id: 'alice:0',
    agent_runtime_id: 'bob:0',
    fence_token: 4,
    generation: 0,
    input,
    ...extra,
  });

  it('stores the message in the bound receiver\'s inbox (accepted once durable); its drain admits it once as a peer input from the sender', async () => {
    const { k, s } = await setup();
    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'bob:0', fence_token: 4, generation: 0 });
    const store = stores.get(k) as InMemoryRuntimeStore;
    const r = await k.composition.deliverRoutedInput(peerRoute(s, peerBody('hi bob')));
    expect(r).toMatchObject({ accepted: true, kind: 'DeliverPeerMessage', session_id: s, deduplicated: false });
    if (!r.accepted) throw new Error('refused');
    const inbox = await store.loadPeerMessages(k.core.session(s).runtimeId, 10);
    expect(inbox.map((m) => [m.sequence, m.input.id, m.input.origin])).toEqual([
      [r.peer_message_sequence, r.input_id, { type: 'peer', peer_id: 'alice', runtime_id: 'alice:0' }],
    ]);
    // Not admitted before a drain runs.
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.drain.setPeerIngressContext(s, { keep_alive: true, comms_runtime_id: 'mob:m1', mob_id: 'm1' });
    await waitUntil(() => k.session.listActiveInputs(s).length === 1, 'the peer input admitted');
    expect(k.session.listActiveInputs(s)).toEqual([r.input_id]);
    const row = await store.loadInput(k.core.session(s).runtimeId, r.input_id as string);
    expect(row?.input.origin).toEqual({ type: 'peer', peer_id: 'alice', runtime_id: 'alice:0' });
    expect(row?.input.body).toMatchObject({ input_type: 'peer', body: 'hi bob' });
    expect(await store.loadPeerMessages(k.core.session(s).runtimeId, 10)).toEqual([]);
    // The same message re-sent (same input id) after its admission is deduplicated: nothing stored.
    const again = await k.composition.deliverRoutedInput(peerRoute(s, { ...peerBody('hi bob'), id: r.input_id as string }));
    expect(again).toMatchObject({ accepted: true, input_id: r.input_id, deduplicated: true });
    expect(again.accepted && again.peer_message_sequence).toBeUndefined();
    expect(await store.loadPeerMessages(k.core.session(s).runtimeId, 10)).toEqual([]);
  });

  it('a receiver with no binding takes an unplaced message (any client may send one); a bound one requires the exact placement', async () => {
    const { k, s } = await setup();
    const store = stores.get(k) as InMemoryRuntimeStore;
    const unplaced = peerRoute(s, peerBody('plain'), { agent_runtime_id: null, fence_token: null, generation: null, sender_runtime_id: null });
    expect(await k.composition.deliverRoutedInput(unplaced)).toMatchObject({ accepted: true });
    // Placement given for an unbound receiver: the Ingest guard refuses it.
    expect(await k.composition.deliverRoutedInput(peerRoute(s, peerBody('x')))).toMatchObject({ accepted: false, code: 'GUARD_REJECTED' });
    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'bob:0', fence_token: 4, generation: 0 });
    const noPlacement = await k.composition.deliverRoutedInput(unplaced);
    expect(noPlacement).toMatchObject({ accepted: false, code: 'GUARD_REJECTED' });
    expect(noPlacement.accepted === false && noPlacement.message).toContain('agent_runtime_id');
    const stale = await k.composition.deliverRoutedInput(peerRoute(s, peerBody('stale'), { fence_token: 3 }));
    expect(stale).toMatchObject({ accepted: false, code: 'GUARD_REJECTED' });
    expect(stale.accepted === false && stale.message).toContain('fence_binding_exact');
    const otherRuntime = await k.composition.deliverRoutedInput(peerRoute(s, peerBody('other'), { agent_runtime_id: 'bob:1', generation: 1 }));
    expect(otherRuntime).toMatchObject({ accepted: false, code: 'GUARD_REJECTED' });
    expect((await store.loadPeerMessages(k.core.session(s).runtimeId, 10)).map((m) => m.input.body)).toEqual([expect.objectContaining({ body: 'plain' })]);
  });

  it('refusals are answers and store nothing: bad arguments, unknown, destroyed and retired receivers', async () => {
    const { k, s } = await setup();
    const store = stores.get(k) as InMemoryRuntimeStore;
    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeBinding', session_id: s, agent_runtime_id: 'bob:0', fence_token: 4, generation: 0 });
    const refused = async (route: RoutedInput, code: string, text: string): Promise<void> => {
      const r = await k.composition.deliverRoutedInput(route);
      expect(r).toMatchObject({ accepted: false, kind: 'DeliverPeerMessage', code });
      expect(r.accepted === false && r.message).toContain(text);
    };
    await refused(peerRoute(s, peerBody('x'), { sender: '' }), 'INVALID_ARGUMENT', 'sender');
    await refused(peerRoute(s, prompt('not a peer input')), 'INVALID_ARGUMENT', 'input.body');
    await refused(peerRoute(s, { ...peerBody('x'), origin: { type: 'peer', peer_id: 'mallory' } }), 'INVALID_ARGUMENT', 'input.origin');
    await refused(peerRoute(s, { ...peerBody('x'), origin: { type: 'operator' } }), 'INVALID_ARGUMENT', 'input.origin');
    await refused(peerRoute(s, peerBody('x'), { fence_token: null }), 'INVALID_ARGUMENT', 'fence_token');
    await refused(peerRoute(s, { ...peerBody('x'), id: 'not-a-uuid' }), 'INVALID_ARGUMENT', 'input.id');
    await refused(peerRoute(newId(), peerBody('x')), 'SESSION_NOT_FOUND', 'not registered');
    await refused(peerRoute('nope', peerBody('x')), 'INVALID_ARGUMENT', 'session_id');
    expect(await store.loadPeerMessages(k.core.session(s).runtimeId, 10)).toEqual([]);

    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeRetire', session_id: s });
    await refused(peerRoute(s, peerBody('x')), 'INVALID_PHASE', 'Retired');
    await k.composition.deliverRoutedInput({ kind: 'RequestRuntimeDestroy', session_id: s });
    await refused(peerRoute(s, peerBody('x')), 'RUNTIME_DESTROYED', 'destroyed');
    expect(await store.loadPeerMessages(k.core.session(s).runtimeId, 10)).toEqual([]);
  });

  it('a store failure is a STORE_UNAVAILABLE refusal', async () => {
    const { k, s } = await setup();
    const store = stores.get(k) as InMemoryRuntimeStore;
    store.appendPeerMessage = () => Promise.reject(new Error('disk full'));
    const r = await k.composition.deliverRoutedInput({
      kind: 'DeliverPeerMessage',
      session_id: s,
      sender: 'alice',
      sender_runtime_id: null,
      agent_runtime_id: null,
      fence_token: null,
      generation: null,
      input: peerBody('lost?'),
    });
    expect(r).toMatchObject({ accepted: false, code: 'STORE_UNAVAILABLE' });
    expect(r.accepted === false && r.message).toContain('disk full');
  });
});
