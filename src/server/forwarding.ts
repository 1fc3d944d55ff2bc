/**
 * Forwarding a session's call to the replica that owns it (decision 12).
 *
 * Several kernels may share one PostgreSQL database; each session is leased to one of them. A
 * call that reaches a replica for a session another live replica owns is passed on, as is, to the
 * owner's advertised address over a channel pooled per owner, and the owner's answer (response,
 * stream messages, status, trailers with the error details) is passed back. Deadline and metadata
 * travel with it (so does `traceparent`: with tracing on, the gRPC instrumentation makes the
 * forwarded call a child of this replica's server span); cancelling the call cancels the forwarded
 * one. A forwarded call carries {@link FORWARDED_HEADER} and is never forwarded again: the owner
 * serves it, or answers SESSION_OWNED_ELSEWHERE if ownership moved to another live replica meanwhile
 * (the client retries); a lease handed over meanwhile is taken here again.
 *
 * Where a call goes is decided before the kernel sees it: a session loaded here with a lease is
 * served here; otherwise the lease row is read, and a live lease of another replica sends the call
 * there. An absent or expired lease is served here (the kernel takes the lease and recovers the
 * session first when the call registers it; a handed-over lease is taken by any call, below).
 * Session-less calls and client/bidi-streaming calls are always served here.
 *
 * Idle lease handover: every session-scoped call served here is reported to the kernel
 * (`core.beginSessionCall`, direct or forwarded). When a forwarded call has been served, and before
 * its answer goes back, the kernel is asked to hand the session over (`core.handOverIfIdle`): with
 * `MEERKAT_LEASE_HANDOVER_IDLE_MS` set, a session no call reached directly for that long and that
 * is quiescent is dropped here and its lease ended, so the forwarding replica's next call for it
 * takes the lease (token + 1), recovers the session with the executor it had, and is served there
 * — the owner follows the replica the mesh sends the calls to.
 *
 * Graceful drain: the forwarder shares the server's {@link ServerLifecycle}. A forwarded unary call
 * counts as a call in flight (`beginCall`), so shutdown waits for the owner's answer like a call
 * served here. A forwarded stream is tracked (`trackStream`): when the drain begins the forwarded
 * call is cancelled (never the input: the owner keeps running it) and the client's stream ends
 * with UNAVAILABLE + RetryInfo (`SERVER_SHUTTING_DOWN`, metadata `input_id` and, for WatchInput,
 * `resume_token` when known), exactly like a stream served here, so the client re-attaches
 * elsewhere at once. Once draining, nothing is forwarded any more and no lease is adopted: calls
 * are served here, where the handlers refuse them with SERVER_SHUTTING_DOWN + RetryInfo.
 *
 * @example
 * ```ts
 * const forwarder = new SessionForwarder(kernel, ownership, logger, lifecycle);
 * server.addService(IngressServiceService, forwarder.wrap(IngressServiceService, ingressImplementation));
 * // …on shutdown
 * forwarder.close();
 * ```
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import {
  IngressServiceService,
  type AcceptWithCompletionResponse,
  type WatchInputRequest,
  type WatchInputResponse,
} from '../gen/meerkat/kernel/v1/ingress.js';
import { parseUuidV7 } from '../kernel/ids.js';
import type { MeerkatMachine } from '../kernel/machine.js';
import type { SessionLeases } from '../kernel/leases.js';
import { toServiceError, transportError } from './errors.js';
import { endStreamWithError, ServerLifecycle } from './lifecycle.js';

/**
 * How long a forwarded call's answer waits for the handover decision (normally a gate pass and one
 * lease write); past it the answer goes back and the handover finishes on its own.
 */
export const HANDOVER_ANSWER_WAIT_MS = 2_000;

/** Resolves when `p` settles or after `ms`, whichever comes first. */
function atMost(p: Promise<unknown>, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    void p.finally(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Metadata key marking a call one replica forwarded to another (value: the forwarding replica's id). */
export const FORWARDED_HEADER = 'x-meerkat-forwarded-by';

/** What the forwarder needs of this replica's ownership. */
export interface ForwardingOwnership {
  readonly leases: SessionLeases;
  readonly replicaId: string;
}

interface MethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: unknown) => Buffer;
  readonly responseDeserialize: (bytes: Buffer) => unknown;
}

type AnyHandler = (call: never, callback?: never) => void;

/** A session-scoped call served here: its session, and the replica that forwarded it (null: it came directly). */
interface LocalTarget {
  readonly sessionId: string;
  readonly forwardedBy: string | null;
}

const RUNTIME_PREFIX = 'rt:session:';

/**
 * What a client needs to re-attach to the input a forwarded stream follows, collected from the
 * request and the owner's messages: ErrorInfo metadata (`input_id`, `resume_token`) when this
 * replica ends the stream because it drains — the same keys a stream served here carries.
 */
class ResumeHint {
  readonly metadata: Record<string, string> = {};

  constructor(
    private readonly path: string,
    request: unknown,
  ) {
    if (path === IngressServiceService.watchInput.path) {
      const selector = (request as Partial<WatchInputRequest> | null)?.selector;
      if (selector?.$case === 'input_id' && selector.input_id !== '') this.metadata.input_id = selector.input_id;
    }
  }

  /** Notes a message the owner sent. */
  note(message: unknown): void {
    if (this.path === IngressServiceService.acceptWithCompletion.path) {
      const event = (message as Partial<AcceptWithCompletionResponse> | null)?.event;
      if (event?.$case !== 'admission') return;
      const outcome = event.admission.outcome?.type;
      if (outcome?.$case === 'accepted') this.metadata.input_id = outcome.accepted.input_id;
      else if (outcome?.$case === 'deduplicated') this.metadata.input_id = outcome.deduplicated.existing_id;
    } else if (this.path === IngressServiceService.watchInput.path) {
      const event = (message as Partial<WatchInputResponse> | null)?.event;
      if (event?.$case !== 'update') return;
      const inputId = event.update.state?.input_id;
      if (inputId !== undefined && inputId !== '') this.metadata.input_id = inputId;
      if (event.update.resume_token !== '') this.metadata.resume_token = event.update.resume_token;
    }
  }
}

/** The session a request addresses (`session_id`, or the session of `runtime_id`), if any. */
export function sessionOfRequest(request: unknown): string | null {
  if (request === null || typeof request !== 'object') return null;
  const r = request as { readonly session_id?: unknown; readonly runtime_id?: unknown };
  if (typeof r.session_id === 'string' && r.session_id !== '') return r.session_id;
  if (typeof r.runtime_id === 'string' && r.runtime_id.startsWith(RUNTIME_PREFIX)) return r.runtime_id.slice(RUNTIME_PREFIX.length);
  return null;
}

export class SessionForwarder {
  private readonly channels = new Map<string, grpc.Client>();

  constructor(
    private readonly kernel: MeerkatMachine,
    private readonly ownership: ForwardingOwnership | null,
    private readonly logger: Logger,
    /**
     * The server's call bookkeeping: forwarded unary calls count as in flight, forwarded streams are
     * ended by the drain; once draining nothing is forwarded and no lease is adopted.
     */
    private readonly lifecycle: ServerLifecycle = new ServerLifecycle(),
  ) {}

  /** The owner's address when a call for `sessionId` must go elsewhere; `null` to serve it here. */
  async ownerElsewhere(sessionId: string): Promise<string | null> {
    const own = this.ownership;
    if (own === null) return null;
    const local = this.kernel.core.sessions.get(sessionId);
    if (local !== undefined && local.fence !== null) return null;
    const lease = await own.leases.lease(sessionId);
    if (lease === null || lease.owner_replica === own.replicaId || lease.expires_in_ms <= 0) return null;
    return lease.owner_address;
  }

  /**
   * The implementation with every unary and server-streaming method routed: served here, or
   * forwarded to the session's owner.
   */
  wrap<I extends object>(definition: object, implementation: I): I {
    if (this.ownership === null) return implementation;
    const defs = definition as Readonly<Record<string, MethodDefinition>>;
    const impl = implementation as unknown as Readonly<Record<string, AnyHandler>>;
    const out: Record<string, AnyHandler> = { ...impl };
    for (const [name, def] of Object.entries(defs)) {
      const local = impl[name];
      if (local === undefined || def.requestStream) continue;
      out[name] = (def.responseStream ? this.serverStreaming(def, local) : this.unary(def, local)) as AnyHandler;
    }
    return out as unknown as I;
  }

  /** Closes the pooled channels (server shutdown). */
  close(): void {
    for (const c of this.channels.values()) c.close();
    this.channels.clear();
  }

  private channel(address: string): grpc.Client {
    let c = this.channels.get(address);
    if (c === undefined) {
      c = new grpc.Client(address, grpc.credentials.createInsecure());
      this.channels.set(address, c);
    }
    return c;
  }

  /**
   * Resolves where the call goes: `local(target)` when here (`target` null for a session-less call),
   * `remote(address, metadata)` otherwise.
   */
  private route(
    call: { readonly request: unknown; readonly metadata: grpc.Metadata },
    local: (target: LocalTarget | null) => void,
    remote: (address: string, metadata: grpc.Metadata) => void,
  ): void {
    // Session ids are UUIDs, kept lower-case by the kernel and the lease table.
    const sessionId = sessionOfRequest(call.request)?.toLowerCase() ?? null;
    if (sessionId === null) {
      local(null);
      return;
    }
    const forwardedBy = call.metadata.get(FORWARDED_HEADER);
    if (forwardedBy.length > 0) {
      local({ sessionId, forwardedBy: String(forwardedBy[0]) });
      return;
    }
    // A draining replica forwards nothing: served here, the call is refused with
    // SERVER_SHUTTING_DOWN + RetryInfo and the client retries on another replica.
    if (this.lifecycle.draining) {
      local({ sessionId, forwardedBy: null });
      return;
    }
    this.ownerElsewhere(sessionId).then(
      (address) => {
        if (address === null || this.lifecycle.draining) {
          local({ sessionId, forwardedBy: null });
          return;
        }
        const metadata = call.metadata.clone();
        metadata.set(FORWARDED_HEADER, this.ownership?.replicaId ?? '');
        this.logger.debug({ session_id: sessionId, owner: address }, 'forwarding the call to the session owner');
        remote(address, metadata);
      },
      (e: unknown) => {
        // The lease could not be read: serve here (the kernel's own lease claim decides).
        this.logger.warn({ err: e, session_id: sessionId }, 'reading the session lease failed; serving the call here');
        local({ sessionId, forwardedBy: null });
      },
    );
  }

  /**
   * Before a session-scoped call is served here: a session whose lease was handed over and not
   * claimed since is taken (token + 1) and recovered, with the executor it had, so the call finds it
   * loaded — whatever the call.
   */
  private async adopt(rawSessionId: string): Promise<void> {
    let sessionId: string;
    try {
      sessionId = parseUuidV7(rawSessionId, 'session_id');
    } catch {
      return; // the service answers the malformed id
    }
    const core = this.kernel.core;
    if (core.sessions.has(sessionId) || this.lifecycle.draining || this.ownership === null) return;
    // Only a handed-over lease (its note still waiting) is taken by any call: the claim returns the
    // executor to re-attach. Any other session only the store knows is recovered as before, by the
    // calls that register it (RegisterSession, EnsureSessionWithExecutor, WatchInput, …).
    const lease = await this.ownership.leases.lease(sessionId);
    if (lease === null || lease.handed_over_by === null || lease.expires_in_ms > 0) return;
    const { session, inserted } = await core.ensureRegistered(sessionId);
    if (inserted) {
      this.logger.info(
        { session_id: sessionId, fencing_token: session.fence?.token ?? null, executor: session.attachment.kind === 'active' ? session.attachment.executor : null },
        'took the session lease and recovered the session from the store',
      );
    }
  }

  /** After a forwarded call was served (before its answer goes back): hand the session over if it is idle. */
  private async afterServed(target: LocalTarget): Promise<void> {
    if (target.forwardedBy === null) return;
    try {
      const decision = await this.kernel.core.handOverIfIdle(target.sessionId);
      if (decision.kind === 'handed_over') {
        this.logger.info(
          { session_id: target.sessionId, asked_by: target.forwardedBy, fencing_token: decision.token, executor: decision.executor },
          'handed the idle session over to the replica that forwards its calls',
        );
      } else {
        this.logger.debug({ session_id: target.sessionId, asked_by: target.forwardedBy, reason: decision.reason }, 'kept the session (no handover)');
      }
    } catch (e) {
      this.logger.warn({ err: e, session_id: target.sessionId }, 'handing the session over failed; it stays here');
    }
  }

  /** Serves a unary call here (see {@link adopt}, {@link afterServed}). */
  private unaryHere(
    target: LocalTarget | null,
    call: grpc.ServerUnaryCall<unknown, unknown>,
    callback: grpc.sendUnaryData<unknown>,
    serve: grpc.handleUnaryCall<unknown, unknown>,
  ): void {
    if (target === null) {
      serve(call, callback);
      return;
    }
    const done = this.kernel.core.beginSessionCall(target.sessionId, target.forwardedBy === null);
    call.on('cancelled', done);
    this.adopt(target.sessionId).then(
      () =>
        serve(call, (...answer: Parameters<grpc.sendUnaryData<unknown>>) => {
          done();
          void atMost(this.afterServed(target), HANDOVER_ANSWER_WAIT_MS).then(() => callback(...answer));
        }),
      (e: unknown) => {
        done();
        callback(toServiceError(e, (error, errorId) => this.logger.error({ err: error, error_id: errorId }, 'unexpected error')));
      },
    );
  }

  /** Serves a server-streaming call here: a forwarded one is handed over (if idle) before it ends OK. */
  private streamHere(target: LocalTarget | null, call: grpc.ServerWritableStream<unknown, unknown>, serve: grpc.handleServerStreamingCall<unknown, unknown>): void {
    if (target === null) {
      serve(call);
      return;
    }
    const done = this.kernel.core.beginSessionCall(target.sessionId, target.forwardedBy === null);
    for (const event of ['finish', 'close', 'error', 'cancelled']) call.on(event, done);
    if (target.forwardedBy !== null) {
      const end = call.end.bind(call) as (metadata?: grpc.Metadata) => void;
      const endAfterHandover = (metadata?: grpc.Metadata): void => {
        done();
        void atMost(this.afterServed(target), HANDOVER_ANSWER_WAIT_MS).then(() => end(metadata));
      };
      Object.assign(call, { end: endAfterHandover });
    }
    this.adopt(target.sessionId).then(
      () => serve(call),
      (e: unknown) => {
        done();
        endStreamWithError(call, toServiceError(e, (error, errorId) => this.logger.error({ err: error, error_id: errorId }, 'unexpected error')));
      },
    );
  }

  private unary(def: MethodDefinition, local: AnyHandler): grpc.handleUnaryCall<unknown, unknown> {
    const serve = local as unknown as grpc.handleUnaryCall<unknown, unknown>;
    return (call, callback) => {
      this.route(
        call,
        (target) => this.unaryHere(target, call, callback, serve),
        (address, metadata) => {
          // In flight until the owner answered: shutdown waits for it like for a call served here.
          const release = this.lifecycle.beginCall();
          const forwarded = this.channel(address).makeUnaryRequest(
            def.path,
            def.requestSerialize,
            def.responseDeserialize,
            call.request,
            metadata,
            { deadline: call.getDeadline() },
            (error, response) => {
              release();
              if (error) callback(error);
              else callback(null, response);
            },
          );
          call.on('cancelled', () => {
            release();
            forwarded.cancel();
          });
        },
      );
    };
  }

  private serverStreaming(def: MethodDefinition, local: AnyHandler): grpc.handleServerStreamingCall<unknown, unknown> {
    const serve = local as unknown as grpc.handleServerStreamingCall<unknown, unknown>;
    return (call) => {
      this.route(
        call,
        (target) => this.streamHere(target, call, serve),
        (address, metadata) => {
          const forwarded = this.channel(address).makeServerStreamRequest(
            def.path,
            def.requestSerialize,
            def.responseDeserialize,
            call.request,
            metadata,
            { deadline: call.getDeadline() },
          );
          const hint = new ResumeHint(def.path, call.request);
          // Set when this replica's drain ended the client's stream: nothing from the owner follows.
          let drained = false;
          this.lifecycle.trackStream(call, (message) => {
            drained = true;
            endStreamWithError(call, transportError('SERVER_SHUTTING_DOWN', message, hint.metadata));
            forwarded.cancel(); // the forwarded call only: the owner keeps the input and its run
          });
          forwarded.on('metadata', (m: grpc.Metadata) => {
            if (!drained) call.sendMetadata(m);
          });
          forwarded.on('data', (m: unknown) => {
            if (drained) return;
            hint.note(m);
            call.write(m);
          });
          forwarded.on('error', (e: grpc.ServiceError) => {
            if (!drained) call.emit('error', e);
          });
          forwarded.on('status', (s: grpc.StatusObject) => {
            if (!drained && s.code === grpc.status.OK) call.end(s.metadata);
          });
          call.on('cancelled', () => forwarded.cancel());
        },
      );
    };
  }
}
