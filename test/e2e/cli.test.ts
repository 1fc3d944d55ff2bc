/**
 * The `meerkat` CLI end to end: the real kernel server runs as a child process (PGlite in a
 * temporary data directory), the CLI runs as a separate process per command.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meerkat } from './cli-support.js';
import { startServer, type RunningServer } from './harness.js';

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('meerkat CLI against a live kernel server', () => {
  let kernel: RunningServer;
  let session = '';
  const cli = (...args: string[]) => meerkat(kernel.address, args);

  beforeAll(async () => {
    kernel = await startServer();
  }, 90_000);

  afterAll(async () => {
    await kernel?.stop();
  });

  it('new-id prints a fresh UUID v7', async () => {
    const r = await cli('new-id');
    expect(r.code, r.stderr).toBe(0);
    session = r.stdout.trim();
    expect(session).toMatch(UUID_V7);
  });

  it('ensure attaches the echo executor, accept --wait prints the completion text', async () => {
    const ensure = await cli('ensure', session, '--executor', 'echo');
    expect(ensure.code, ensure.stderr).toBe(0);
    expect(ensure.stdout).toContain(session);

    const accept = await cli('accept', session, 'hello', '--wait', '--key', 'greeting-1');
    expect(accept.code, accept.stderr).toBe(0);
    expect(accept.stdout.trim()).toBe('hello');
    expect(accept.stderr).toMatch(/accepted input [0-9a-f-]{36}/);

    // The same idempotency key joins the (already completed) input instead of admitting a new one;
    // its completion is derived from the stored terminal outcome.
    const again = await cli('accept', session, 'hello', '--wait', '--key', 'greeting-1');
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim()).toMatch(/^(hello|completed without a result)$/);
    expect(again.stderr).toContain('deduplicated');
    expect(again.stderr).toContain('already terminal');
  }, 60_000);

  it('accept --wait --json streams the admission and the completion as JSON lines', async () => {
    const r = await cli('--json', 'accept', session, 'json please', '--wait');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toHaveProperty('admission');
    expect(lines.at(-1)).toMatchObject({ completion: { outcome: { completed: { result: { text: 'json please' } } } } });
  }, 60_000);

  it('prints "still waiting…" heartbeats with the elapsed time on stderr while a run is slow', async () => {
    const slow = (await cli('new-id')).stdout.trim();
    expect((await cli('ensure', slow, '--executor', 'scripted')).code).toBe(0);
    const r = await cli('accept', slow, '@delay(2500) slow one', '--wait', '--heartbeat', '1s');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('slow one');
    expect(r.stderr).toMatch(/still waiting… \d+\.\ds elapsed/);

    // A --timeout shorter than the run: the wait ends, the input stays admitted, the CLI says how to follow it.
    const short = await cli('--timeout', '1.5s', 'accept', slow, '@delay(4000) slower', '--wait');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('DEADLINE_EXCEEDED');
    expect(short.stderr).toMatch(/meerkat watch [0-9a-f-]{36} --input [0-9a-f-]{36}/);
  }, 60_000);

  it('inputs, input and watch follow an input admitted without waking the loop', async () => {
    const accepted = await cli('--json', 'accept', session, 'later', '--without-wake');
    expect(accepted.code, accepted.stderr).toBe(0);
    const reply = JSON.parse(accepted.stdout) as { outcome: { accepted: { inputId: string } } };
    const inputId = reply.outcome.accepted.inputId;
    expect(inputId).toMatch(UUID_V7);

    const inputs = await cli('inputs', session);
    expect(inputs.code, inputs.stderr).toBe(0);
    expect(inputs.stdout.split('\n')).toContain(inputId);

    const input = await cli('input', session, inputId);
    expect(input.code, input.stderr).toBe(0);
    expect(input.stdout).toMatch(/phase\s+queued/);
    expect(input.stdout).toMatch(/prompt\s+later/);

    const watch = await cli('watch', session, '--input', inputId, '--stage', 'queued');
    expect(watch.code, watch.stderr).toBe(0);
    expect(watch.stdout).toContain('queued');

    // Waking the loop (recover) lets the echo executor consume it; a terminal watch then ends with the outcome.
    expect((await cli('recover', session)).code).toBe(0);
    const done = await cli('watch', session, '--input', inputId);
    expect(done.code, done.stderr).toBe(0);
    expect(done.stdout).toMatch(/^consumed/m);
    expect(done.stdout).toMatch(/^outcome: completed/m);
  }, 60_000);

  it('state reads the runtime state', async () => {
    const r = await cli('state', session);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('attached');
  });

  it('call invokes any unary RPC from JSON and prints the JSON reply', async () => {
    const r = await cli('call', 'ControlService.RuntimeState', JSON.stringify({ runtime_id: `rt:session:${session}` }));
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ state: 'RUNTIME_STATE_ATTACHED' });

    const contains = await cli('call', 'SessionService.ContainsSession', JSON.stringify({ session_id: session }));
    expect(contains.code, contains.stderr).toBe(0);
    expect(JSON.parse(contains.stdout)).toEqual({ contains: true });
  });

  it('reports errors as CODE reason: message on stderr with a non-zero exit code', async () => {
    const unknown = (await cli('new-id')).stdout.trim();
    const r = await cli('state', unknown);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('NOT_FOUND SESSION_NOT_FOUND');

    const bad = await cli('register', 'not-a-uuid');
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('INVALID_ARGUMENT');
    expect(bad.stderr).toContain('session_id');

    const json = await cli('--json', 'state', unknown);
    expect(json.code).not.toBe(0);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'NOT_FOUND', reason: 'SESSION_NOT_FOUND' } });
  });

  it('stop and destroy end the session; a destroyed runtime refuses new input', async () => {
    expect((await cli('stop', session, '--reason', 'e2e')).code).toBe(0);
    const destroyed = await cli('destroy', session);
    expect(destroyed.code, destroyed.stderr).toBe(0);
    expect((await cli('state', session)).stdout.trim()).toBe('destroyed');
    const refused = await cli('accept', session, 'too late');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('FAILED_PRECONDITION RUNTIME_DESTROYED');
  }, 60_000);
});
