import { describe, expect, it } from 'vitest';
import { terminalRowOutcome } from '../../src/kernel/core.js';
import { InMemoryRuntimeStore, MeerkatMachine, newId } from '../../src/kernel/index.js';

describe('terminal completion carrier', () => {
  it('a finished input keeps the completion its run produced, also after a restart', async () => {
    const store = new InMemoryRuntimeStore();
    const a = new MeerkatMachine({ store, retentionIntervalMs: 0 });
    const s = newId();
    await a.session.ensureSessionWithExecutor(s, 'echo');
    const r = await a.ingress.acceptWithCompletion(s, { body: { input_type: 'prompt', text: 'hello' } });
    expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'hello' } });
    const row = await a.session.inputState(s, r.outcome.input_id);
    expect(row && terminalRowOutcome(row)).toEqual({ kind: 'completed', result: { text: 'hello' } });
    const b = new MeerkatMachine({ store, retentionIntervalMs: 0 });
    await b.session.registerSession(s);
    const again = await b.session.inputState(s, r.outcome.input_id);
    expect(again && terminalRowOutcome(again)).toEqual({ kind: 'completed', result: { text: 'hello' } });
    await a.close();
    await b.close();
  });

  it('an input abandoned after its attempts keeps the abandonment with its error', async () => {
    const k = new MeerkatMachine({ retentionIntervalMs: 0, retryBackoffMs: 1 });
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'scripted');
    const r = await k.ingress.acceptWithCompletion(s, { body: { input_type: 'prompt', text: '@fail x' } });
    const outcome = await r.handle?.outcome;
    expect(outcome).toMatchObject({ kind: 'abandoned', reason: { kind: 'max_attempts_exhausted', attempts: 3 } });
    const row = await k.session.inputState(s, r.outcome.input_id);
    expect(row && terminalRowOutcome(row)).toEqual(outcome);
    await k.close();
  });
});
