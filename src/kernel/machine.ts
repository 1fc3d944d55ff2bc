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
import { ControlCommands } from './commands/control.js';
import { DrainCommands, DrainLocalCommands } from './commands/drain.js';
import { IngressCommands } from './commands/ingress.js';
import { LegacyRunCommands } from './commands/legacy-run.js';
import { QueryCommands } from './commands/queries.js';
import { SessionCommands } from './commands/session.js';
import { KernelCore, type KernelOptions } from './core.js';
import { ExecutorRegistry } from './executor.js';
import { EchoExecutor } from './executors/echo.js';
import { ScriptedExecutor } from './executors/scripted.js';
import { parseUuidV7 } from './ids.js';
import { validateInput, type Input } from './input.js';
import { InMemoryRuntimeStore, type RoutedSignal, type RuntimeStore } from './store.js';

export interface MeerkatMachineOptions {
  readonly store?: RuntimeStore;
  readonly executors?: ExecutorRegistry;
  readonly clock?: Clock;
  readonly assertInvariants?: boolean;
  readonly retryBackoffMs?: number;
  readonly terminalRetention?: number;
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
    };
    this.core = new KernelCore(opts);
    this.session = new SessionCommands(this.core);
    this.drain = new DrainCommands(this.core);
    this.drainLocal = new DrainLocalCommands(this.core);
    this.control = new ControlCommands(this.core);
    this.ingress = new IngressCommands(this.core);
    this.legacyRun = new LegacyRunCommands(this.core);
    this.queries = new QueryCommands(this.core);
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

  /** Puts a peer message in a session's inbox; the session's comms drain admits it. */
  deliverPeerMessage(sessionId: string, input: Input): void {
    const session = this.core.session(parseUuidV7(sessionId, 'session_id'));
    validateInput(input, 'message');
    session.inbox.deliver(input);
  }

  /** Stops every runtime loop and terminates outstanding waiters. */
  close(): Promise<void> {
    return this.core.close();
  }
}
