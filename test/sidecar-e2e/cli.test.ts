/**
 * `meerkat mob …` end to end: the real CLI process against the real sidecar and kernel — the
 * README's walk-through (create from a JSON file, spawn with rules-based wiring, wait-ready, send
 * with --wait, peer message, members, events, retire, destroy) and the error rendering and exit
 * codes of a refused call.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../e2e/cli-support.js';
import { startCluster, type Cluster } from './harness.js';

let cluster: Cluster;
let dir: string;

beforeAll(async () => {
  cluster = await startCluster();
  dir = mkdtempSync(join(tmpdir(), 'meerkat-mob-cli-'));
}, 90_000);

afterAll(async () => {
  await cluster?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

function mob(...args: string[]) {
  const env: NodeJS.ProcessEnv = { ...process.env, MEERKAT_SIDECAR_ADDRESS: cluster.sidecar.address };
  delete env.MEERKAT_TIMEOUT;
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'mob', ...args], { env, timeoutMs: 30_000 });
}

describe('meerkat mob', () => {
  it('walks through the README example', async () => {
    const def = join(dir, 'team.json');
    writeFileSync(
      def,
      JSON.stringify({
        id: 'team',
        profiles: {
          lead: { model: 'model-1', executor: 'echo', external_addressable: true },
          worker: { model: 'model-1', executor: 'echo', external_addressable: true },
        },
        orchestrator: { profile: 'lead' },
        wiring: { auto_wire_orchestrator: true, role_wiring: [] },
      }),
    );
    expect((await mob('create', def)).stdout).toBe('created mob team (running)\n');
    expect((await mob('spawn', 'team', 'boss', '--profile', 'lead')).stdout).toMatch(/^spawned boss {2}active/);
    const alice = await mob('spawn', 'team', 'alice', '--profile', 'worker', '--label', 'tier=1');
    expect(alice.stdout).toContain('wired: boss');
    const ready = await mob('wait-ready', 'team');
    expect(ready.code).toBe(0);
    expect(ready.stdout.trim().split('\n').at(-1)).toBe('all ready');
    const sent = await mob('send', 'team', 'alice', 'hello, mob', '--wait');
    expect(sent).toMatchObject({ code: 0, stdout: 'hello, mob\n' });
    expect((await mob('message', 'team', 'boss', 'alice', 'ping from boss')).stdout).toMatch(/^delivered to alice: input \S+ in session \S+/);
    const members = (await mob('members', 'team')).stdout.trim().split('\n');
    expect(members.map((l) => l.split('  ')[0])).toEqual(['alice', 'boss']);
    const events = JSON.parse((await mob('--json', 'events', 'team', '--limit', '2')).stdout) as { events: { type: string }[] };
    expect(events.events.map((e) => e.type)).toEqual(['mob_created', 'member_spawned']);
    expect((await mob('retire', 'team', 'alice')).stdout).toMatch(/^retired alice {2}completed/);
    expect((await mob('lifecycle', 'team', 'destroy')).stdout).toBe('mob team: destroyed (1 kernel sessions destroyed)\n');
  }, 60_000);

  it('prints a refused call as CODE REASON: message and exits 1; a usage error exits 2', async () => {
    const missing = await mob('member', 'nowhere', 'x');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('NOT_FOUND MOB_NOT_FOUND: mob nowhere does not exist');
    const usage = await mob('lifecycle', 'team', 'explode');
    expect(usage.code).toBe(2);
  }, 30_000);
});
