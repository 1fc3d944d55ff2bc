/**
 * `npm run start:all` (`sidecar/start-all.ts`, issue 5 "`npm start` can run both"): one command runs
 * the kernel and the mob sidecar; both serve health, the sidecar reaches the kernel at the address
 * derived from `MEERKAT_LISTEN`, SIGTERM stops both (exit 0), and a child that dies takes the
 * other one down and makes the supervisor exit non-zero.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { MobServiceClient, StartupStage } from '../../src/gen/meerkat/mob/v1/mob.js';
import { checkHealth } from '../../src/server/health.js';
import { freePort, ROOT } from '../e2e/harness.js';
import { call, collect, teamDefinition } from './harness.js';

interface Supervisor {
  readonly child: ChildProcess;
  readonly lines: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly kernel: string;
  readonly sidecar: string;
  /** Child pids by name, from the supervisor's "started …" log lines. */
  pid(name: 'kernel' | 'sidecar'): number;
}

const dirs: string[] = [];
const running: ChildProcess[] = [];
afterEach(() => {
  for (const c of running.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function startAll(): Promise<Supervisor> {
  const dir = mkdtempSync(join(tmpdir(), 'meerkat-start-all-'));
  dirs.push(dir);
  const [kernelPort, sidecarPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    MEERKAT_LISTEN: `127.0.0.1:${kernelPort}`,
    MEERKAT_DATA_DIR: join(dir, 'kernel'),
    MEERKAT_SIDECAR_HOST: '127.0.0.1',
    MEERKAT_SIDECAR_PORT: String(sidecarPort),
    MEERKAT_SIDECAR_DATA_DIR: join(dir, 'sidecar'),
    MEERKAT_LOG_LEVEL: 'info',
  };
  delete env.DATABASE_URL;
  delete env.MEERKAT_KERNEL_ADDR;
  const child = spawn(process.execPath, ['--import', 'tsx', 'sidecar/start-all.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.push(child);
  const lines: string[] = [];
  const keep = (chunk: Buffer): void => {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim() !== '') lines.push(l);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const pid = (name: 'kernel' | 'sidecar'): number => {
    for (const l of lines) {
      try {
        const j = JSON.parse(l) as { service?: string; child?: string; child_pid?: number; msg?: string };
        if (j.service === 'meerkat-start-all' && j.child === name && j.msg === `started ${name}` && typeof j.child_pid === 'number') return j.child_pid;
      } catch {
        // not a JSON line
      }
    }
    throw new Error(`no "started ${name}" line:\n${lines.join('\n')}`);
  };
  return { child, lines, exited, kernel: `127.0.0.1:${kernelPort}`, sidecar: `127.0.0.1:${sidecarPort}`, pid };
}

async function untilServing(s: Supervisor, address: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (s.child.exitCode !== null) throw new Error(`start:all exited:\n${s.lines.join('\n')}`);
    try {
      if ((await checkHealth(address, '', { timeoutMs: 1000 })) === 'SERVING') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${address} did not serve:\n${s.lines.join('\n')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm run start:all', () => {
  it('runs the kernel and the sidecar wired together; SIGTERM stops both and exits 0', async () => {
    const s = await startAll();
    await Promise.all([untilServing(s, s.kernel), untilServing(s, s.sidecar)]);
    // The sidecar talks to this kernel: a member is spawned there and its RuntimeBound folded.
    const mobs = new MobServiceClient(s.sidecar, grpc.credentials.createInsecure());
    try {
      await call(mobs.createMob.bind(mobs), { definition: teamDefinition('start-all') });
      await call(mobs.spawnMember.bind(mobs), { mob_id: 'start-all', agent_identity: 'solo', profile: 'worker', labels: {} });
      const updates = await collect(mobs.waitReady({ mob_id: 'start-all', agent_identities: ['solo'] }));
      expect(updates.at(-1)).toMatchObject({ all_ready: true, members: [{ startup: StartupStage.RUNTIME_READY }] });
    } finally {
      mobs.close();
    }
    const kernelPid = s.pid('kernel');
    const sidecarPid = s.pid('sidecar');
    s.child.kill('SIGTERM');
    const exit = await s.exited;
    expect(exit, s.lines.slice(-40).join('\n')).toEqual({ code: 0, signal: null });
    expect(alive(kernelPid)).toBe(false);
    expect(alive(sidecarPid)).toBe(false);
    const stopped = s.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((j) => j.msg === 'kernel and sidecar stopped');
    expect(stopped).toMatchObject({ kernel: 0, sidecar: 0, exit: 0 });
  }, 120_000);

  it('when the kernel dies the sidecar is stopped too and the supervisor exits non-zero', async () => {
    const s = await startAll();
    await Promise.all([untilServing(s, s.kernel), untilServing(s, s.sidecar)]);
    const sidecarPid = s.pid('sidecar');
    process.kill(s.pid('kernel'), 'SIGKILL');
    const exit = await s.exited;
    expect(exit.code).toBe(1);
    expect(alive(sidecarPid)).toBe(false);
    expect(s.lines.some((l) => l.includes('kernel exited unexpectedly'))).toBe(true);
  }, 120_000);
});
