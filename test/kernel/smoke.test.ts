import { describe, expect, it } from 'vitest';
import { MeerkatMachine, newId } from '../../src/kernel/index.js';

describe('kernel smoke', () => {
  it('echo completes a prompt', async () => {
    const k = MeerkatMachine.inMemory();
    const s = newId();
    await k.session.ensureSessionWithExecutor(s, 'echo');
    const r = await k.ingress.acceptWithCompletion(s, { body: { input_type: 'prompt', text: 'hello' } });
    expect(r.outcome.type).toBe('accepted');
    expect(await r.handle?.outcome).toEqual({ kind: 'completed', result: { text: 'hello' } });
    expect(k.control.runtimeState(`rt:session:${s}`)).toBe('attached');
    expect(k.session.listActiveInputs(s)).toEqual([]);
    await k.close();
  });
});
