/**
 * Support of the sidecar store/runtime tests: the backends they run against (embedded PGlite in a
 * temporary directory, and a real PostgreSQL server in a database of its own when one answers at
 * `TEST_DATABASE_URL`, dropped afterwards) and a kernel double that records what the sidecar sends
 * and answers with scripted refusals — the sidecar's own logic, store and transactions are real.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { DeliverRoutedInputRequest } from '../../src/gen/meerkat/kernel/v1/composition.js';
import type { CompletionOutcome } from '../../src/gen/meerkat/kernel/v1/types.js';
import { newId } from '../../src/kernel/ids.js';
import type { RoutedSignal, RoutedSignalKind } from '../../src/kernel/store.js';
import { MobError } from '../../sidecar/errors.js';
import { activeTraceparent } from '../../sidecar/runtime/fold-tracing.js';
import { KernelLink, type RouteAnswer } from '../../sidecar/runtime/kernel-link.js';
import { openMobStore, type MobStore } from '../../sidecar/store/mob-store.js';
import { databaseUrl, postgresReachable, tryAdminQuery as admin } from '../support/postgres.js';

export { postgresReachable };

export interface Backend {
  readonly name: 'pglite' | 'postgres';
  /** A fresh, migrated store on an empty database. */
  open(): Promise<MobStore>;
  /** Drops what `open` created. */
  cleanup(): Promise<void>;
}

export function backends(): Backend[] {
  const out: Backend[] = [];
  const dirs: string[] = [];
  out.push({
    name: 'pglite',
    open: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'meerkat-sidecar-store-'));
      dirs.push(dir);
      return openMobStore({ dataDir: dir, databaseUrl: '' });
    },
    cleanup: () => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
      return Promise.resolve();
    },
  });
  if (postgresReachable) {
    const names: string[] = [];
    out.push({
      name: 'postgres',
      open: async () => {
        const name = `meerkat_sidecar_${randomBytes(6).toString('hex')}`;
        names.push(name);
        await admin(`CREATE DATABASE ${name}`);
        return openMobStore({ databaseUrl: databaseUrl(name) });
      },
      cleanup: async () => {
        for (const n of names) await admin(`DROP DATABASE IF EXISTS ${n} WITH (FORCE)`);
      },
    });
  }
  return out;
}

export const quietLogger = pino({ level: 'silent' });

export interface Sent {
  readonly route: NonNullable<DeliverRoutedInputRequest['route']>['$case'];
  readonly session_id: string;
  /** `traceparent` active when the request was sent. */
  readonly traceparent: string | null;
  /** The whole request. */
  readonly request: DeliverRoutedInputRequest;
}

/** A kernel double: records deliveries, accepts them unless a refusal is scripted for the route. */
export class RecordingKernel extends KernelLink {
  readonly sent: Sent[] = [];
  readonly ensured: string[] = [];
  readonly refuse = new Map<string, { code: string; message: string }>();
  /** While true every delivery fails like a kernel that is down. */
  unavailable = false;
  attempts = 0;

  constructor() {
    super('127.0.0.1:1'); // never dialled: every call below is overridden
  }

  override ensureSession(sessionId: string): Promise<void> {
    this.ensured.push(sessionId);
    return Promise.resolve();
  }

  override deliver(request: DeliverRoutedInputRequest): Promise<RouteAnswer> {
    const r = request.route;
    if (r === undefined) throw new Error('no route');
    this.attempts += 1;
    if (this.unavailable) return Promise.reject(new MobError('KERNEL_UNAVAILABLE', 'the kernel is down (test double)'));
    const body = Object.values(r).find((v): v is { session_id: string } => typeof v === 'object' && v !== null && 'session_id' in v);
    this.sent.push({ route: r.$case, session_id: body?.session_id ?? '', traceparent: activeTraceparent(), request });
    const refusal = this.refuse.get(r.$case);
    if (refusal) return Promise.resolve({ accepted: false, ...refusal });
    return Promise.resolve({ accepted: true, input_id: r.$case === 'request_runtime_ingress' || r.$case === 'deliver_peer_message' ? newId() : null, deduplicated: false });
  }

  /** Sessions whose peer ingress / comms drain was asserted (SetPeerIngressContext keep_alive). */
  readonly attached: string[] = [];

  override attachIngress(sessionId: string): Promise<RouteAnswer> {
    if (this.unavailable) return Promise.reject(new MobError('KERNEL_UNAVAILABLE', 'the kernel is down (test double)'));
    this.attached.push(sessionId);
    return Promise.resolve({ accepted: true, input_id: null, deduplicated: false });
  }

  override waitTerminal(): Promise<CompletionOutcome | null> {
    return Promise.resolve(null);
  }

  override acknowledge(): Promise<void> {
    return Promise.resolve();
  }
}

let sequence = 0;
/** A kernel signal as StreamSignals would deliver it. */
export function signal(kind: RoutedSignalKind, session_id: string, agent_runtime_id: string, fence_token: number, trace_context: string | null = null): RoutedSignal {
  sequence += 1;
  return { sequence, kind, session_id, runtime_id: `rt:session:${session_id}`, agent_runtime_id, fence_token, trace_context, created_at: Date.now() };
}

/** Polls `check` until it holds (the flush loop runs asynchronously). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
}
