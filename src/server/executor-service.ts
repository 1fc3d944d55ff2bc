/**
 * `ExecutorService.Attach` (decision 6): remote executors attach over one bidirectional stream.
 *
 * Attachment. The executor sends `Hello{executor_name, session_ids, capabilities}`. The kernel
 * checks the sessions (each must be registered — a session only the store knows is recovered
 * first — and not destroyed), answers `HelloAck{attachment_id}` and registers the name in the
 * kernel's `ExecutorRegistry` (limited to the Hello's sessions when it lists any). From then on
 * `EnsureSessionWithExecutor(session, name)` attaches a runtime loop whose executor is a
 * {@link RemoteExecutor} on this stream: the loop's `apply` becomes a `RunAssignment`, the
 * executor's `TerminalReport` resolves it, and cancel-after-boundary / stop / interrupt travel
 * down the stream. A name of a built-in executor (`echo`, `scripted`) cannot be taken. Attaching
 * again under a name replaces the previous attachment (its stream ends ABORTED).
 *
 * Dead attachment. When the stream ends for any reason (executor gone, cancelled, protocol
 * error, replaced, server shutdown) the name leaves the registry, every run in flight fails
 * with `ExecutorLost` (its inputs go back to their lanes through the kernel's retry path,
 * decision 4), and each session loop served by the stream is closed and detached, so
 * `SessionHasExecutor` turns false and nothing is assigned to a dead stream. Those sessions
 * are remembered as orphans of the name: the next attachment under the same name that serves
 * them re-attaches their loops (as `EnsureSessionWithExecutor` would), so queued work resumes
 * without a client call; `EnsureSessionWithExecutor` works as well.
 *
 * Protocol errors end the call with INVALID_ARGUMENT (first message not a Hello, malformed or
 * second Hello, report for a run not assigned on this stream), NOT_FOUND / FAILED_PRECONDITION
 * for an unknown / destroyed session in the Hello.
 *
 * Shutdown: call {@link ExecutorService.close} before `kernel.close()`, so runs in flight end as
 * failed applies (re-queued, durable) rather than as cancelled runs.
 */
import * as grpc from '@grpc/grpc-js';
import { setImmediate as nextTick } from 'node:timers/promises';
import type { AttachRequest, AttachResponse, ExecutorServiceServer } from '../gen/meerkat/kernel/v1/executor.js';
import { KernelError, runtimeDestroyed, sessionNotFound } from '../kernel/errors.js';
import { parseUuidV7, runtimeIdOf } from '../kernel/ids.js';
import { MAX_SHORT_STRING } from '../kernel/input.js';
import type { MeerkatMachine } from '../kernel/machine.js';
import { serviceError, toServiceError, transportError } from './errors.js';
import { RemoteAttachment, RemoteExecutor } from './remote-executor.js';

export interface ExecutorServiceOptions {
  /** Diagnostics sink (default: stderr, prefixed `[executor-service]`). */
  readonly log?: (line: string) => void;
  /** Grace for an interrupted run's terminal report (default 2 s). */
  readonly interruptGraceMs?: number;
}

type AttachCall = grpc.ServerDuplexStream<AttachRequest, AttachResponse>;

/** What a message handler may do to its stream. */
interface StreamHooks {
  /** Ends the call with `error` (or OK when null); idempotent. */
  readonly end: (error: grpc.ServiceError | null) => void;
  /** Records the stream's attachment (before it is published). */
  readonly bind: (attachment: RemoteAttachment) => void;
  /** Whether the call already ended (e.g. cancelled while the Hello was being checked). */
  readonly ended: () => boolean;
}

interface Live {
  readonly attachment: RemoteAttachment;
  /** Ends the call with `error` (or OK when null); idempotent. */
  readonly end: (error: grpc.ServiceError | null) => void;
}

export class ExecutorService {
  /** The live attachment per executor name. */
  private readonly live = new Map<string, Live>();
  /** Sessions whose loops were detached because their attachment died, per executor name. */
  private readonly orphans = new Map<string, Set<string>>();
  /** Detaches in progress per executor name (a new attachment waits for them). */
  private readonly detaching = new Map<string, Promise<void>>();
  private readonly log: (line: string) => void;
  private closed = false;

  constructor(
    private readonly kernel: MeerkatMachine,
    private readonly options: ExecutorServiceOptions = {},
  ) {
    this.log = options.log ?? ((line) => process.stderr.write(`[executor-service] ${line}\n`));
  }

  /** The grpc-js implementation of `meerkat.kernel.v1.ExecutorService`. */
  handlers(): ExecutorServiceServer {
    return { attach: (call: AttachCall) => this.attach(call) };
  }

  /** Names with a live attachment (diagnostics). */
  attachedNames(): string[] {
    return [...this.live.keys()].sort();
  }

  /** Ends every attachment (server shutdown); call before `kernel.close()`. */
  async close(): Promise<void> {
    this.closed = true;
    const ends = [...this.live.values()];
    for (const l of ends) l.end(transportError('SERVER_SHUTTING_DOWN', 'the kernel server is shutting down; attach again'));
    await Promise.all([...this.detaching.values()]);
  }

  private attach(call: AttachCall): void {
    let attachment: RemoteAttachment | null = null;
    let ended = false;
    let chain: Promise<void> = Promise.resolve();

    const end = (error: grpc.ServiceError | null, why: string): void => {
      if (ended) return;
      ended = true;
      if (attachment) this.retire(attachment, why);
      try {
        if (error) call.emit('error', error);
        else call.end();
      } catch {
        // The transport is already gone.
      }
    };
    const fail = (e: unknown): void => {
      const err = toServiceError(e);
      end(err, `protocol error: ${err.details}`);
    };

    call.on('data', (message: AttachRequest) => {
      chain = chain
        .then(async () => {
          if (ended) return;
          await this.onMessage(call, attachment, message, {
            end: (e) => end(e, e ? e.details : 'ended'),
            // Bound before the attachment is published, so ending the call always retires it.
            bind: (a) => (attachment = a),
            ended: () => ended,
          });
        })
        .catch(fail);
    });
    call.on('end', () => {
      void chain.then(() => end(null, 'the executor closed the stream'));
    });
    call.on('cancelled', () => {
      ended = true;
      if (attachment) this.retire(attachment, 'the attachment stream was cancelled');
    });
    call.on('close', () => {
      if (!ended) {
        ended = true;
        if (attachment) this.retire(attachment, 'the attachment stream closed');
      }
    });
    call.on('error', () => {
      // Our own status emission lands here too; losing the transport is handled by 'cancelled'/'close'.
      if (attachment && !attachment.dead && call.cancelled) this.retire(attachment, 'the attachment stream failed');
    });
  }

  /** Handles one executor message. */
  private async onMessage(call: AttachCall, attachment: RemoteAttachment | null, message: AttachRequest, stream: StreamHooks): Promise<void> {
    const m = message.message;
    if (!m) throw invalid('message', 'exactly one of hello, boundary_report, terminal_report is required');
    if (m.$case === 'hello') {
      if (attachment) throw invalid('hello', 'Hello was already sent on this stream');
      await this.hello(call, m.hello, stream);
      return;
    }
    if (!attachment) throw invalid('hello', 'the first message of an attachment must be a Hello');
    if (m.$case === 'boundary_report') attachment.onBoundary(m.boundary_report);
    else attachment.onTerminal(m.terminal_report);
  }

  private async hello(
    call: AttachCall,
    hello: NonNullable<Extract<AttachRequest['message'], { $case: 'hello' }>>['hello'],
    stream: StreamHooks,
  ): Promise<void> {
    const end = stream.end;
    if (this.closed) {
      end(transportError('SERVER_SHUTTING_DOWN', 'the kernel server is shutting down'));
      return;
    }
    const name = hello.executor_name;
    if (typeof name !== 'string' || name.trim().length === 0 || name.length > MAX_SHORT_STRING) {
      throw invalid('hello.executor_name', `must be a non-empty string of at most ${MAX_SHORT_STRING} characters`);
    }
    const registry = this.kernel.core.options.executors;
    if (registry.has(name) && !this.live.has(name)) {
      throw invalid('hello.executor_name', `"${name}" is the name of a built-in executor`);
    }
    const sessions = new Set<string>();
    for (const [i, raw] of hello.session_ids.entries()) {
      const id = parseUuidV7(raw, `hello.session_ids[${i}]`);
      await this.requireSession(id);
      sessions.add(id);
    }
    if (stream.ended()) return;
    const attachment = new RemoteAttachment({
      name,
      sessions: sessions.size > 0 ? sessions : null,
      canReconfigureLlm: hello.capabilities?.can_reconfigure_llm ?? false,
      send: (msg) => {
        if (!call.writable) throw new Error('the attachment stream is not writable');
        call.write(msg);
      },
      log: (line) => this.log(`${name}/${attachment.id.slice(-8)}: ${line}`),
      ...(this.options.interruptGraceMs !== undefined ? { interruptGraceMs: this.options.interruptGraceMs } : {}),
    });
    stream.bind(attachment);
    const previous = this.live.get(name);
    if (previous) previous.end(
        serviceError({
          code: grpc.status.ABORTED,
          reason: 'ATTACHMENT_REPLACED',
          message: `replaced by attachment ${attachment.id} under the same name`,
          metadata: { executor: name, attachment_id: attachment.id },
        }),
      );
    this.live.set(name, { attachment, end });
    registry.register(
      name,
      (sessionId) => attachment.executorFor(sessionId),
      (sessionId) => attachment.serves(sessionId),
    );
    call.write({ message: { $case: 'hello_ack', hello_ack: { attachment_id: attachment.id } } });
    this.log(
      `attached "${name}" as ${attachment.id} for ${sessions.size > 0 ? [...sessions].join(', ') : 'every session bound to the name'}`,
    );
    // Not awaited: the message chain must keep flowing (the re-attached loops' reports arrive on it).
    // A detach still in progress for the name finishes first (it also re-binds on its way out).
    void (this.detaching.get(name) ?? Promise.resolve()).then(() => this.rebindOrphans(attachment)).catch(() => undefined);
  }

  /** A registered, live session; one only the store knows is recovered first (cold registration). */
  private async requireSession(id: string): Promise<void> {
    let session = this.kernel.core.sessions.get(id);
    if (!session) {
      const doc = await this.kernel.core.store.loadSession(runtimeIdOf(id));
      if (!doc) throw sessionNotFound(id);
      session = (await this.kernel.core.ensureRegistered(id)).session;
    }
    if (session.phase === 'Destroyed') throw runtimeDestroyed(id);
  }

  /** Re-attaches loops this name lost with a dead attachment, for the sessions the new one serves. */
  private async rebindOrphans(attachment: RemoteAttachment): Promise<void> {
    const orphaned = this.orphans.get(attachment.name);
    if (!orphaned) return;
    for (const sessionId of [...orphaned]) {
      if (!attachment.serves(sessionId) || attachment.dead) continue;
      orphaned.delete(sessionId);
      try {
        await this.kernel.session.ensureSessionWithExecutor(sessionId, attachment.name);
        this.log(`re-attached session ${sessionId} to "${attachment.name}"`);
      } catch (e) {
        this.log(`could not re-attach session ${sessionId}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (orphaned.size === 0) this.orphans.delete(attachment.name);
  }

  /**
   * Retires a dead attachment: unregisters the name (unless already replaced), fails the
   * runs in flight and detaches the loops it served.
   */
  private retire(attachment: RemoteAttachment, reason: string): void {
    if (attachment.dead) return;
    const current = this.live.get(attachment.name);
    if (current?.attachment === attachment) {
      this.live.delete(attachment.name);
      this.kernel.core.options.executors.unregister(attachment.name);
    }
    const failed = attachment.kill(reason);
    this.log(`attachment ${attachment.id} of "${attachment.name}" is dead (${reason}); ${failed.length} run(s) in flight failed`);
    const previous = this.detaching.get(attachment.name) ?? Promise.resolve();
    const work = previous.then(() => this.detachLoops(attachment));
    const tracked = work.finally(() => {
      if (this.detaching.get(attachment.name) === tracked) this.detaching.delete(attachment.name);
    });
    this.detaching.set(attachment.name, tracked);
  }

  private async detachLoops(attachment: RemoteAttachment): Promise<void> {
    // Let each runtime loop observe its failed apply (and leave the run) before it is closed,
    // so the run ends as a failed apply — re-queued — and not as an interrupted (cancelled) one.
    await nextTick();
    for (const executor of attachment.executors) {
      const session = this.kernel.core.sessions.get(executor.sessionId);
      if (!session || session.attachment.kind !== 'active') continue;
      const loop = session.attachment.loop;
      if (!(loop.executor instanceof RemoteExecutor) || loop.executor !== executor) continue;
      try {
        await loop.close();
      } catch (e) {
        this.log(`closing the loop of session ${executor.sessionId} failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      if (session.attachment.kind === 'active' && session.attachment.loop === loop) session.attachment = { kind: 'none' };
      // A loop attached meanwhile (a new attachment, EnsureSessionWithExecutor) may have found the run
      // still in flight: wake it so it sees the re-queued inputs.
      session.loop?.wake();
      if (session.phase !== 'Destroyed' && this.kernel.core.sessions.get(executor.sessionId) === session && !session.loop) {
        let set = this.orphans.get(attachment.name);
        if (!set) {
          set = new Set();
          this.orphans.set(attachment.name, set);
        }
        set.add(executor.sessionId);
        this.log(`detached session ${executor.sessionId} from "${attachment.name}"`);
      }
    }
    attachment.executors.clear();
    // An attachment that arrived while this one was detaching picks up the orphans now.
    const next = this.live.get(attachment.name)?.attachment;
    if (next && next !== attachment) await this.rebindOrphans(next);
  }
}

function invalid(field: string, description: string): KernelError {
  return new KernelError('INVALID_ARGUMENT', `${field} ${description}`, {}, [{ field, description }]);
}
