/**
 * An independent client: `buf curl` (from the @bufbuild/buf npm package) discovers the kernel's
 * services through server reflection and calls them over plain HTTP/2 gRPC — no generated code
 * of this repository is involved on the client side.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from './cli-support.js';
import { ROOT, startServer, type RunningServer } from './harness.js';

const BUF = join(ROOT, 'node_modules', '.bin', 'buf');

function bufProblem(): string | null {
  if (!existsSync(BUF)) return `${BUF} is missing (npm install installs @bufbuild/buf)`;
  const r = spawnSync(BUF, ['--version'], { encoding: 'utf8', timeout: 20_000 });
  if (r.error) return `${BUF} cannot run here: ${r.error.message}`;
  if (r.status !== 0) return `${BUF} --version exited with ${r.status}: ${r.stderr}`;
  return null;
}

const problem = bufProblem();
if (problem) console.warn(`skipping the buf curl tests: ${problem}`);

describe.skipIf(problem !== null)('buf curl against the kernel server', () => {
  let kernel: RunningServer;

  beforeAll(async () => {
    kernel = await startServer();
  }, 90_000);

  afterAll(async () => {
    await kernel?.stop();
  });

  it('lists the kernel services through reflection', async () => {
    const r = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-services', `http://${kernel.address}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('meerkat.kernel.v1.IngressService');
    expect(r.stdout).toContain('meerkat.kernel.v1.SessionService');
  }, 60_000);

  // Two ways for buf to learn the schema: the server's reflection service (the point of this
  // file), and buf compiling this repository's proto/ itself (checks the wire contract on its
  // own, so a failure of only the first names reflection as the culprit).
  describe.each([
    { schema: 'server reflection', flags: [] as string[] },
    { schema: 'proto/ compiled by buf', flags: ['--schema', 'proto'] },
  ])('schema from $schema', ({ schema, flags }) => {
    const curl = async (rpc: string, body: unknown) => {
      const r = await run(
        BUF,
        [
          'curl',
          ...flags,
          '--protocol',
          'grpc',
          '--http2-prior-knowledge',
          '--data',
          JSON.stringify(body),
          `http://${kernel.address}/meerkat.kernel.v1.${rpc}`,
        ],
        { timeoutMs: 30_000 },
      );
      if (/failed to find service named/.test(r.stderr)) {
        throw new Error(
          `buf curl could not resolve ${rpc} from the ${schema}: ${r.stderr.trim()} — the descriptors the server's ` +
            'reflection service returns do not form a valid schema (see src/server/reflection.ts)',
        );
      }
      return r;
    };

    it('RegisterSession, EnsureSessionWithExecutor(echo), then AcceptWithCompletion streams the admission and the completion', async () => {
      const session = uuidv7();

      const register = await curl('SessionService/RegisterSession', { session_id: session });
      expect(register.code, register.stderr).toBe(0);
      expect(JSON.parse(register.stdout)).toEqual({});

      const ensure = await curl('SessionService/EnsureSessionWithExecutor', { session_id: session, executor: 'echo' });
      expect(ensure.code, ensure.stderr).toBe(0);

      const accept = await curl('IngressService/AcceptWithCompletion', {
        session_id: session,
        input: { idempotency_key: 'buf-curl-1', body: { prompt: { text: 'hello from buf' } } },
      });
      expect(accept.code, accept.stderr).toBe(0);
      // buf curl prints every stream message as its own JSON document: admission first, completion last.
      const admissionAt = accept.stdout.indexOf('"admission"');
      const completionAt = accept.stdout.indexOf('"completion"');
      expect(admissionAt, accept.stdout).toBeGreaterThanOrEqual(0);
      expect(completionAt, accept.stdout).toBeGreaterThan(admissionAt);
      expect(accept.stdout).toMatch(/"accepted"/);
      expect(accept.stdout).toMatch(/"completed":\s*\{\s*"result":\s*\{\s*"text":\s*"hello from buf"/);

      const state = await curl('ControlService/RuntimeState', { runtime_id: `rt:session:${session}` });
      expect(state.code, state.stderr).toBe(0);
      expect(JSON.parse(state.stdout)).toEqual({ state: 'RUNTIME_STATE_ATTACHED' });
    }, 60_000);

    it('an error carries its gRPC status and a google.rpc.ErrorInfo with the kernel reason', async () => {
      const r = await curl('ControlService/RuntimeState', { runtime_id: `rt:session:${uuidv7()}` });
      expect(r.code).not.toBe(0);
      const error = JSON.parse(r.stderr) as { code: string; details?: { type: string; value: string }[] };
      expect(error.code).toBe('not_found');
      const info = error.details?.find((d) => d.type === 'google.rpc.ErrorInfo');
      expect(info, r.stderr).toBeDefined();
      // The detail's value is the serialized ErrorInfo (base64); its reason field holds the kernel code.
      expect(Buffer.from(info?.value ?? '', 'base64').toString('latin1')).toContain('SESSION_NOT_FOUND');
    }, 60_000);
  });
});
