/**
 * `MeerkatMachine`: the in-process kernel. Commands are grouped as the seed
 * groups them — `session` (incl. ensure-session), `drain`, `drainLocal`,
 * `control`, `ingress`, `legacyRun` — plus `queries` for the HEAD read models.
 * docs/commands.md maps every command to its method and reducer inputs.
 *
 * @example
 * ```ts
 * const kernel = MeerkatMachine.inMemory();
 * const sessionId = newId();
 * await kernel.session.ensureSessionWithExecutor(sessionId, 'echo');
 * const { handle } = await kernel.ingress.acceptWithCompletion(sessionId, {
 *   body: { input_type: 'prompt', text: 'hello' },
 * });
 * console.log(await handle?.outcome); // { kind: 'completed', result: { text: 'hello' } }
 * await kernel.close();
 * ```
 */
import { systemClock, type Clock } from './clock.js';
import { CompositionCommands } from './commands/composition.js';
import { ControlCommands } from './commands/control.js';
import { DrainCommands, DrainLocalCommands } from './commands/drain.js';
import { IngressCommands } from './commands/ingress.js';
import { LegacyRunCommands } from './commands/legacy-run.js';
import { QueryCommands } from './commands/queries.js';
import { SessionCommands } from './commands/session.js';
import { KernelCore, type KernelOptions, type Ownership } from './core.js';
import { ExecutorRegistry } from './executor.js';
import { EchoExecutor } from './executors/echo.js';
import { ScriptedExecutor } from './executors/scripted.js';
import type { RuntimeLoop } from './runtime-loop.js';
import type { SessionRuntime } from './session.js';
import { parseUuidV7 } from './ids.js';
import { validateInput, type Input } from './input.js';
import type { KernelObserver } from './observer.js';
import { InMemoryBlobStore, InMemoryRuntimeStore, type BlobStore, type RoutedSignal, type RuntimeStore } from './store.js';

export interface MeerkatMachineOptions {
  readonly store?: RuntimeStore;
  readonly executors?: ExecutorRegistry;
  readonly clock?: Clock;
  readonly assertInvariants?: boolean;
  readonly retryBackoffMs?: number;
  readonly terminalRetention?: number;
  /** Blob store for large input content (default: in memory). */
  readonly blobs?: BlobStore | null;
  /** Content larger than this is externalised to the blob store (default 64 KiB). */
  readonly blobThresholdBytes?: number;
  /** Retention window for terminal rows, receipts and acknowledged signals (default 24 h). */
  readonly retentionWindowMs?: number;
  /** How often the retention pass runs (default 10 min; 0 disables it). */
  readonly retentionIntervalMs?: number;
  /** Metrics hooks (e.g. `KernelMetrics` of src/telemetry/kernel-metrics.ts); none by default. */
  readonly observer?: KernelObserver;
  /**
   * Several replicas on one database (decision 12): each session this kernel loads is first leased
   * to it, every commit is fenced by the lease's token, and the leases are renewed every
   * `renewEveryMs` (one store write for all). With `handoverIdleMs` > 0, a session no call reached
   * directly for that long is handed over to a replica that forwards a call for it
   * (`core.handOverIfIdle`, driven by the server's forwarding layer). Omit it when one process owns
   * the database.
   */
  readonly ownership?: Ownership & { readonly renewEveryMs: number };
}

/** A registry with the built-in executors `echo` and `scripted`. */
export function defaultExecutors(): ExecutorRegistry {
  return new ExecutorRegistry().register('echo', () => new EchoExecutor()).register('scripted', () => new ScriptedExecutor());
}

export class MeerkatMachine {
  readonly session: SessionCommands;
  readonly drain: DrainCommands;
  readonly drainLocal: DrainLocalCommands;
  readonly control: ControlCommands;
  readonly ingress: IngressCommands;
  readonly legacyRun: LegacyRunCommands;
  readonly queries: QueryCommands;
  /** Routed input delivery from the mob sidecar (mob.md §1). */
  readonly composition: CompositionCommands;
  /** Internals shared by the groups (for the server layer and tests). */
  readonly core: KernelCore;

  constructor(options: MeerkatMachineOptions = {}) {
    const opts: KernelOptions = {
      store: options.store ?? new InMemoryRuntimeStore(),
      executors: options.executors ?? defaultExecutors(),
      clock: options.clock ?? systemClock,
      assertInvariants: options.assertInvariants ?? true,
      retryBackoffMs: options.retryBackoffMs ?? 100,
      terminalRetention: options.terminalRetention ?? 4096,
      blobs: options.blobs === undefined ? new InMemoryBlobStore() : options.blobs,
      blobThresholdBytes: options.blobThresholdBytes ?? 64 * 1024,
      observer: options.observer,
      ...(options.ownership ? { ownership: options.ownership } : {}),
    };
    this.core = new KernelCore(opts);
    this.session = new SessionCommands(this.core);
    this.drain = new DrainCommands(this.core);
    this.drainLocal = new DrainLocalCommands(this.core);
    this.control = new ControlCommands(this.core);
    this.ingress = new IngressCommands(this.core);
    this.legacyRun = new LegacyRunCommands(this.core);
    this.queries = new QueryCommands(this.core);
    this.composition = new CompositionCommands(this.core);
    const interval = options.retentionIntervalMs ?? 10 * 60 * 1000;
    if (interval > 0) {
      const window = options.retentionWindowMs ?? 24 * 60 * 60 * 1000;
      this.retentionTimer = setInterval(() => void this.pruneOnce(window), interval);
      this.retentionTimer.unref();
    }
    const own = options.ownership;
    if (own) {
      if (!(own.renewEveryMs > 0 && own.renewEveryMs < own.ttlMs)) {
        throw new RangeError(`ownership.renewEveryMs (${own.renewEveryMs}) must be positive and shorter than ttlMs (${own.ttlMs})`);
      }
      const idle = own.handoverIdleMs ?? 0;
      if (!(Number.isSafeInteger(idle) && idle >= 0)) {
        throw new RangeError(`ownership.handoverIdleMs (${idle}) must be a non-negative integer (0: no idle handover)`);
      }
      this.renewTimer = setInterval(() => {
        this.core.renewLeases().catch((e: unknown) => {
          // The lease store is unreachable: keep serving; a session lost meanwhile is refused at its next commit.
          console.error(`meerkat kernel: renewing session leases failed: ${e instanceof Error ? e.message : String(e)}`);
        });
      }, own.renewEveryMs);
      this.renewTimer.unref();
    }
  }

  private retentionTimer: NodeJS.Timeout | null = null;
  private renewTimer: NodeJS.Timeout | null = null;

  /**
   * One retention pass: removes terminal input rows, receipts and acknowledged
   * signals older than `windowMs`, in batches of 500 until a batch comes back short.
   */
  async pruneOnce(windowMs: number, batchSize = 500): Promise<{ inputs: number; receipts: number; signals: number }> {
    const total = { inputs: 0, receipts: 0, signals: 0 };
    const cutoff = this.core.clock.now() - windowMs;
    for (;;) {
      const r = await this.core.store.prune(cutoff, batchSize);
      total.inputs += r.inputs;
      total.receipts += r.receipts;
      total.signals += r.signals;
      if (r.inputs < batchSize && r.receipts < batchSize && r.signals < batchSize) return total;
    }
  }

  /** A kernel over an in-memory store with the built-in executors. */
  static inMemory(options: Omit<MeerkatMachineOptions, 'store'> = {}): MeerkatMachine {
    return new MeerkatMachine({ ...options, store: new InMemoryRuntimeStore() });
  }

  /** Observes committed composition signals in process (the durable stream is the store's outbox). */
  onSignal(listener: (signal: RoutedSignal) => void): () => void {
    this.core.signalListeners.add(listener);
    return () => this.core.signalListeners.delete(listener);
  }

  /**
   * Puts a peer message in a session's durable peer inbox (decision 9); resolves once it is stored.
   * The session's comms drain (`SetPeerIngressContext(keep_alive=true)`) admits it as a peer input
   * with the input id returned here; messages wait in the store while no drain runs (also across
   * a restart). SESSION_NOT_FOUND for an unknown session, RUNTIME_DESTROYED for a destroyed one.
   */
  async deliverPeerMessage(sessionId: string, input: Input): Promise<{ readonly input_id: string; readonly sequence: number }> {
    const session = this.core.liveSession(parseUuidV7(sessionId, 'session_id'));
    const validated = validateInput(input, 'message');
    const message = await session.inbox.deliver(validated);
    return { input_id: validated.id, sequence: message.sequence };
  }

  /**
   * Graceful drain (server shutdown, before {@link close}; the "runs in flight reach a
   * boundary or are left for recovery"): every runtime loop starts no new run and the run in flight
   * goes on to its boundary commit, for at most `budgetMs`. A run still executing then is aborted
   * and NOT committed (nor is a run that ended cancelled meanwhile): its inputs stay staged in the
   * store and the session's next owner re-queues them on recovery, as after a crash — a drain never
   * abandons an acknowledged input. With ownership, each session's lease is handed over as soon as
   * its loop has stopped (a session without a loop at once): it ends like a release, so another
   * replica takes the session over without waiting for the others or for the lease to expire, and
   * its note names the executor, which the next owner re-attaches after recovering the session (so
   * a client's WatchInput there alone sees a re-queued input run). Loops attached later start no run.
   */
  async drainRuns(budgetMs: number): Promise<{ readonly finished: number; readonly leftForRecovery: number }> {
    this.core.shuttingDown = true;
    const own = this.core.options.ownership;
    /** Ends the session's lease with a handover note naming its executor, so the next owner re-attaches it. */
    const handOver = async (s: SessionRuntime, executor: string | null): Promise<void> => {
      if (!own || s.fence === null) return;
      try {
        await own.leases.handOver({ session_id: s.sessionId, replica_id: own.replicaId, token: s.fence.token, executor });
      } catch (e) {
        // close() releases it with the others (or it expires): the session is only taken over later.
        console.error(`meerkat kernel: handing over the lease of ${s.sessionId} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
    };
    const pending = new Map<RuntimeLoop, { readonly session: SessionRuntime; readonly executor: string }>();
    const stopped: Promise<void>[] = [];
    for (const s of this.core.sessions.values()) {
      if (s.attachment.kind !== 'active') {
        stopped.push(handOver(s, null));
        continue;
      }
      const loop = s.attachment.loop;
      const entry = { session: s, executor: s.attachment.executor };
      pending.set(loop, entry);
      stopped.push(
        loop.finishAndStop().then(async () => {
          if (pending.delete(loop)) await handOver(entry.session, entry.executor);
        }),
      );
    }
    let timer: NodeJS.Timeout | undefined;
    const budget = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, Math.max(0, budgetMs));
    });
    const total = pending.size;
    try {
      await Promise.race([Promise.all(stopped), budget]);
    } finally {
      clearTimeout(timer);
    }
    const left = [...pending.entries()];
    pending.clear();
    await Promise.all(left.map(([loop, { session, executor }]) => loop.leaveForRecovery().then(() => handOver(session, executor))));
    return { finished: total - left.length, leftForRecovery: left.length };
  }

  /** Stops every loop, ends waiters and, with ownership, releases this replica's leases so others take them at once. */
  async close(): Promise<void> {
    if (this.retentionTimer) clearInterval(this.retentionTimer);
    if (this.renewTimer) clearInterval(this.renewTimer);
    await this.core.close();
    await this.core.releaseLeases();
  }
}
