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
 * serves it, or answers SESSION_OWNED_ELSEWHERE if ownership moved meanwhile (the client retries).
 *
 * Where a call goes is decided before the kernel sees it: a session loaded here with a lease is
 * served here; otherwise the lease row is read, and a live lease of another replica sends the call
 * there. An absent or expired lease is served here (the kernel takes the lease and recovers the
 * session first). Session-less calls and client/bidi-streaming calls are always served here.
 *
 * @example
 * ```ts
 * const forwarder = new SessionForwarder(kernel, ownership, logger);
 * server.addService(IngressServiceService, forwarder.wrap(IngressServiceService, ingressImplementation));
 * // …on shutdown
 * forwarder.close();
 * ```
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { MeerkatMachine } from '../kernel/machine.js';
import type { SessionLeases } from '../kernel/leases.js';

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

const RUNTIME_PREFIX = 'rt:session:';

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

  /** Resolves where the call goes; `local()` when here, `remote(address, metadata)` otherwise. */
  private route(
    call: { readonly request: unknown; readonly metadata: grpc.Metadata },
    local: () => void,
    remote: (address: string, metadata: grpc.Metadata) => void,
  ): void {
    const sessionId = sessionOfRequest(call.request);
    if (sessionId === null || call.metadata.get(FORWARDED_HEADER).length > 0) {
      local();
      return;
    }
    this.ownerElsewhere(sessionId).then(
      (address) => {
        if (address === null) {
          local();
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
        local();
      },
    );
  }

  private unary(def: MethodDefinition, local: AnyHandler): grpc.handleUnaryCall<unknown, unknown> {
    const serve = local as unknown as grpc.handleUnaryCall<unknown, unknown>;
    return (call, callback) => {
      this.route(
        call,
        () => serve(call, callback),
        (address, metadata) => {
          const forwarded = this.channel(address).makeUnaryRequest(
            def.path,
            def.requestSerialize,
            def.responseDeserialize,
            call.request,
            metadata,
            { deadline: call.getDeadline() },
            (error, response) => (error ? callback(error) : callback(null, response)),
          );
          call.on('cancelled', () => forwarded.cancel());
        },
      );
    };
  }

  private serverStreaming(def: MethodDefinition, local: AnyHandler): grpc.handleServerStreamingCall<unknown, unknown> {
    const serve = local as unknown as grpc.handleServerStreamingCall<unknown, unknown>;
    return (call) => {
      this.route(
        call,
        () => serve(call),
        (address, metadata) => {
          const forwarded = this.channel(address).makeServerStreamRequest(
            def.path,
            def.requestSerialize,
            def.responseDeserialize,
            call.request,
            metadata,
            { deadline: call.getDeadline() },
          );
          forwarded.on('metadata', (m: grpc.Metadata) => call.sendMetadata(m));
          forwarded.on('data', (m: unknown) => call.write(m));
          forwarded.on('error', (e: grpc.ServiceError) => call.emit('error', e));
          forwarded.on('status', (s: grpc.StatusObject) => {
            if (s.code === grpc.status.OK) call.end(s.metadata);
          });
          call.on('cancelled', () => forwarded.cancel());
        },
      );
    };
  }
}
