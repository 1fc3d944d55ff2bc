/**
 * The server's call bookkeeping for graceful shutdown: in-flight unary calls (shutdown lets them
 * finish) and open streams (shutdown ends them with UNAVAILABLE and a message telling the client
 * to reconnect and resume, or with a hook of the stream's own, e.g. a last "server shutdown"
 * message first).
 *
 * @example
 * ```ts
 * // In a server-streaming handler:
 * const tracked = ctx.lifecycle.trackStream(call, (message) => {
 *   call.write(lastMessage);                                   // optional: say goodbye in-band
 *   endStreamWithError(call, transportError('SERVER_SHUTTING_DOWN', message));
 * });
 * // … tracked.release() when the stream ends on its own (also automatic on finish/cancel).
 * ```
 */
import type { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { transportError } from './errors.js';

/** Told to end a stream because the server shuts down; `message` says how to resume. */
export type ShutdownHook = (message: string) => void;

/** What the lifecycle needs of a server stream (server-streaming or bidi call). */
export type TrackableStream = Pick<EventEmitter, 'on' | 'emit'> & { readonly cancelled: boolean };

/** The message a client gets on a stream ended by shutdown. */
export const SHUTDOWN_STREAM_MESSAGE =
  'the server is shutting down: reconnect (to this or another replica) and resume from your last position ' +
  '(StreamSignals: after_sequence = the last sequence received; WatchInput: the last resume_token)';

/** Ends a server stream with an error status (trailers included); a no-op on a finished or cancelled call. */
export function endStreamWithError(call: TrackableStream, error: grpc.ServiceError): void {
  if (call.cancelled) return;
  const w = call as TrackableStream & { writableEnded?: boolean; destroyed?: boolean };
  if (w.writableEnded === true || w.destroyed === true) return;
  call.emit('error', error);
}

export interface TrackedStream {
  /** Replaces the shutdown hook (default: end with UNAVAILABLE, reason SERVER_SHUTTING_DOWN). */
  setShutdownHook(hook: ShutdownHook): void;
  /** Stop tracking (idempotent; automatic on finish, close, error or cancel). */
  release(): void;
}

export class ServerLifecycle {
  private drainingFlag = false;
  private inflight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly streams = new Map<TrackableStream, ShutdownHook>();

  /** True once shutdown began: new calls are refused with UNAVAILABLE. */
  get draining(): boolean {
    return this.drainingFlag;
  }

  get inflightCalls(): number {
    return this.inflight;
  }

  get openStreams(): number {
    return this.streams.size;
  }

  /** Counts one unary call in flight; returns its (idempotent) release. */
  beginCall(): () => void {
    this.inflight += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight -= 1;
      if (this.inflight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
    };
  }

  /** Tracks an open stream until it ends; shutdown calls its hook. */
  trackStream(call: TrackableStream, hook?: ShutdownHook): TrackedStream {
    const defaultHook: ShutdownHook = (message) => endStreamWithError(call, transportError('SERVER_SHUTTING_DOWN', message));
    const release = (): void => {
      this.streams.delete(call);
    };
    if (this.drainingFlag) {
      // Too late: end it at once.
      queueMicrotask(() => (hook ?? defaultHook)(SHUTDOWN_STREAM_MESSAGE));
      return { setShutdownHook: () => undefined, release };
    }
    this.streams.set(call, hook ?? defaultHook);
    for (const event of ['finish', 'close', 'error', 'cancelled']) call.on(event, release);
    return {
      setShutdownHook: (h) => {
        if (this.streams.has(call)) this.streams.set(call, h);
      },
      release,
    };
  }

  /** Begins shutdown: refuse new calls and end every open stream through its hook. */
  drain(message = SHUTDOWN_STREAM_MESSAGE): void {
    this.drainingFlag = true;
    const hooks = [...this.streams.values()];
    this.streams.clear();
    for (const hook of hooks) {
      try {
        hook(message);
      } catch {
        // A stream that cannot be ended cleanly is cut by forceShutdown later.
      }
    }
  }

  /** Resolves true once no unary call is in flight, or false after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<boolean> {
    if (this.inflight === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, Math.max(0, timeoutMs));
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.idleWaiters.push(done);
    });
  }
}
