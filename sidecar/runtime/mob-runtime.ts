/**
 * Every mob of this sidecar: creation, lookup, routing of kernel signals to the mob that owns the
 * signal's session (per-mob routing, `mob.md` §1.8/§1.12 — no single dispatcher slot), and the
 * fan-out of appended journal events to followers.
 *
 * A signal whose session no mob owns is dropped: the cursor moves past it in its own transaction
 * and it is counted (`dropped` of the consumer cursor, `foreignSignals` here). A signal the owning
 * mob's machine rejects (unknown or already-retired runtime, stale fence) is dropped by the actor,
 * journaled as `signal_folded{outcome: dropped}` and counted the same way.
 */
import type { Logger } from 'pino';
import type { RoutedSignal } from '../../src/kernel/store.js';
import { validateDefinition, type DefinitionInput } from '../definition.js';
import { MobError } from '../errors.js';
import { initialMobState } from '../machine/index.js';
import type { MobEventRecord, MobStore } from '../store/mob-store.js';
import type { KernelLink } from './kernel-link.js';
import { MobActor, type MobActorDeps } from './mob-actor.js';

export interface MobRuntimeOptions {
  readonly store: MobStore;
  readonly kernel: KernelLink;
  readonly log: Logger;
  /** Name of the durable signal cursor (and of the kernel consumer acknowledged). */
  readonly consumer: string;
}

export type FoldResult = 'applied' | 'dropped' | 'foreign';

export class MobRuntime {
  private readonly mobs = new Map<string, MobActor>();
  private readonly sessionMob = new Map<string, string>();
  private readonly eventListeners = new Set<(events: readonly MobEventRecord[]) => void>();
  private readonly deps: MobActorDeps;
  /** Signals whose session belongs to no mob (since start). */
  foreignSignals = 0;

  private constructor(private readonly options: MobRuntimeOptions) {
    this.deps = {
      store: options.store,
      kernel: options.kernel,
      log: options.log,
      onSession: (session, mob) => this.sessionMob.set(session, mob),
      onEvents: (events) => {
        for (const l of [...this.eventListeners]) l(events);
      },
    };
  }

  get consumer(): string {
    return this.options.consumer;
  }

  get store(): MobStore {
    return this.options.store;
  }

  /** Loads every mob and its queued kernel requests, and starts flushing them. */
  static async load(options: MobRuntimeOptions): Promise<MobRuntime> {
    const rt = new MobRuntime(options);
    for (const s of await options.store.sessionOwners()) rt.sessionMob.set(s.session_id, s.mob_id);
    for (const m of await options.store.loadMobs()) {
      const labels = new Map(m.members.map((x) => [x.agent_identity, x.labels] as const));
      const queued = await options.store.pendingRequests(m.mob_id);
      const actor = new MobActor(m.definition, m.state, m.version, labels, queued, rt.deps);
      rt.mobs.set(m.mob_id, actor);
      actor.kick();
    }
    return rt;
  }

  /** Creates a mob from a definition (journal `mob_created`). */
  async create(input: DefinitionInput): Promise<MobActor> {
    const definition = validateDefinition(input);
    if (this.mobs.has(definition.id)) throw new MobError('MOB_ALREADY_EXISTS', `mob ${definition.id} already exists`, { mob_id: definition.id });
    const state = initialMobState(definition.id);
    const event = await this.options.store.createMob(definition, state);
    const actor = new MobActor(definition, state, 1, new Map(), [], this.deps);
    this.mobs.set(definition.id, actor);
    for (const l of [...this.eventListeners]) l([event]);
    return actor;
  }

  /** The mob, or NOT_FOUND. */
  get(mobId: string): MobActor {
    const m = this.mobs.get(mobId);
    if (m === undefined) throw MobError.mobNotFound(mobId);
    return m;
  }

  all(): MobActor[] {
    return [...this.mobs.values()];
  }

  /** Calls `listener` with every batch of appended journal events. */
  onEvents(listener: (events: readonly MobEventRecord[]) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  /** Folds one kernel signal exactly once (the store refuses a sequence the cursor passed). */
  async fold(signal: RoutedSignal): Promise<FoldResult> {
    const [result] = await this.foldMany([signal]);
    return result ?? 'foreign';
  }

  /**
   * Folds consecutive signals in order: each run of signals owned by the same mob (or by none)
   * commits in one transaction with the cursor. Returns one result per signal; on a failure,
   * the signals of runs committed before it stay folded (the cursor says how far).
   */
  async foldMany(signals: readonly RoutedSignal[], onCommitted?: (signals: readonly RoutedSignal[], results: readonly FoldResult[]) => void): Promise<FoldResult[]> {
    // The routing table is complete in memory: loaded from mob_sessions at start, and every commit
    // that adds a session reports it (a session's signals can only follow its binding request,
    // which is sent after that commit).
    const owners = signals.map((s) => this.sessionMob.get(s.session_id) ?? null);
    const out: FoldResult[] = [];
    let i = 0;
    while (i < signals.length) {
      const owner = owners[i] ?? null;
      let j = i + 1;
      while (j < signals.length && (owners[j] ?? null) === owner) j++;
      const run = signals.slice(i, j);
      const actor = owner === null ? undefined : this.mobs.get(owner);
      let results: FoldResult[];
      if (actor === undefined) {
        await this.options.store.skipSignals(this.options.consumer, (run[0] as RoutedSignal).sequence, (run.at(-1) as RoutedSignal).sequence, run.length);
        this.foreignSignals += run.length;
        results = run.map(() => 'foreign' as const);
      } else {
        results = await actor.foldSignals(run, this.options.consumer);
      }
      out.push(...results);
      onCommitted?.(run, results);
      i = j;
    }
    return out;
  }

  /** Re-registers the member sessions of every live mob (the kernel may have restarted). */
  async reattach(): Promise<void> {
    for (const m of this.mobs.values()) if (m.state.phase !== 'Destroyed') await m.reattach();
  }

  async close(): Promise<void> {
    await Promise.all([...this.mobs.values()].map((m) => m.close()));
  }
}
