/**
 * The sidecar's gRPC link to the kernel, over the generated clients of `src/gen`: session set-up
 * for new members (RegisterSession + EnsureSessionWithExecutor), the routed inputs
 * (`CompositionService.DeliverRoutedInput`, peer messages included), a ready member's peer ingress
 * and comms drain (`DrainService.SetPeerIngressContext`), the terminal outcome of admitted work
 * (`IngressService.WatchInput`), and the signal stream (`StreamSignals` / `AcknowledgeSignals`).
 *
 * A refusal of a routed input is an answer ({@link RouteAnswer}), never an exception. Transport
 * failures (kernel down, deadline) are {@link MobError} `KERNEL_UNAVAILABLE`; any other gRPC error
 * of a session call is `KERNEL_REFUSED` carrying the kernel's ErrorInfo reason.
 */
import * as grpc from '@grpc/grpc-js';
import {
  CompositionServiceClient,
  type DeliverRoutedInputRequest,
  type StreamSignalsResponse,
} from '../../src/gen/meerkat/kernel/v1/composition.js';
import { DrainServiceClient } from '../../src/gen/meerkat/kernel/v1/drain.js';
import { IngressServiceClient, WatchStage, type WatchInputResponse } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { SessionServiceClient } from '../../src/gen/meerkat/kernel/v1/session.js';
import type { CompletionOutcome } from '../../src/gen/meerkat/kernel/v1/types.js';
import { decodeErrorDetails } from '../../src/server/errors.js';
import { MobError } from '../errors.js';

/** Default deadline of a unary kernel call. */
export const KERNEL_CALL_TIMEOUT_MS = 15_000;

export type RouteAnswer =
  | { readonly accepted: true; readonly input_id: string | null; readonly deduplicated: boolean }
  | { readonly accepted: false; readonly code: string; readonly message: string };

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (error: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

const TRANSPORT_CODES: readonly grpc.status[] = [grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED, grpc.status.CANCELLED, grpc.status.UNKNOWN];

/** Is this a transport failure (worth retrying once the kernel is back)? */
export function isTransportFailure(e: unknown): boolean {
  return e instanceof MobError ? e.code === 'KERNEL_UNAVAILABLE' : isServiceError(e) && TRANSPORT_CODES.includes(e.code);
}

function isServiceError(e: unknown): e is grpc.ServiceError {
  return e instanceof Error && typeof (e as Partial<grpc.ServiceError>).code === 'number';
}

/** A kernel gRPC error as a MobError. */
export function kernelError(e: unknown, what: string): MobError {
  if (e instanceof MobError) return e;
  if (!isServiceError(e)) return new MobError('KERNEL_UNAVAILABLE', `${what}: ${e instanceof Error ? e.message : String(e)}`);
  if (TRANSPORT_CODES.includes(e.code)) return new MobError('KERNEL_UNAVAILABLE', `${what}: the kernel is unavailable (${grpc.status[e.code]}: ${e.details})`);
  const reason = decodeErrorDetails(e)?.errorInfo?.reason ?? grpc.status[e.code] ?? 'UNKNOWN';
  return new MobError('KERNEL_REFUSED', `${what}: the kernel refused (${reason}): ${e.details}`, { kernel_code: reason });
}

/** Calls wait for the channel to (re)connect instead of failing fast while the kernel restarts. */
function waitingMetadata(): grpc.Metadata {
  return new grpc.Metadata({ waitForReady: true });
}

export class KernelLink {
  readonly composition: CompositionServiceClient;
  readonly sessions: SessionServiceClient;
  readonly ingress: IngressServiceClient;
  readonly drain: DrainServiceClient;

  constructor(readonly address: string) {
    const credentials = grpc.credentials.createInsecure();
    // Reconnect quickly after a kernel restart; calls wait for the channel (waitForReady) until their deadline.
    const options: grpc.ChannelOptions = {
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 2_000,
    };
    this.composition = new CompositionServiceClient(address, credentials, options);
    this.sessions = new SessionServiceClient(address, credentials, options);
    this.ingress = new IngressServiceClient(address, credentials, options);
    this.drain = new DrainServiceClient(address, credentials, options);
  }

  private call<Req, Res>(client: grpc.Client, method: Unary<Req, Res>, request: Req, what: string): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      method.call(client, request, waitingMetadata(), { deadline: Date.now() + KERNEL_CALL_TIMEOUT_MS }, (error, response) =>
        error ? reject(kernelError(error, what)) : resolve(response),
      );
    });
  }

  /** Registers the session (idempotent) and attaches `executor` to it. */
  async ensureSession(sessionId: string, executor: string): Promise<void> {
    const s = this.sessions;
    await this.call(s, s.registerSession, { session_id: sessionId }, `RegisterSession(${sessionId})`);
    await this.call(s, s.ensureSessionWithExecutor, { session_id: sessionId, executor }, `EnsureSessionWithExecutor(${sessionId}, ${executor})`);
  }

  /** Delivers one routed input; a refusal is an answer. */
  async deliver(request: DeliverRoutedInputRequest, what: string): Promise<RouteAnswer> {
    const c = this.composition;
    const res = await this.call(c, c.deliverRoutedInput, request, what);
    const r = res.result;
    if (r?.$case === 'accepted') return { accepted: true, input_id: r.accepted.input_id ?? null, deduplicated: r.accepted.deduplicated === true };
    if (r?.$case === 'refusal') return { accepted: false, code: r.refusal.code, message: r.refusal.message };
    throw new MobError('KERNEL_UNAVAILABLE', `${what}: the kernel's answer has no result`);
  }

  /**
   * Claims the session's peer ingress for `mobId` under `commsRuntimeId` and keeps its comms drain
   * running (SetPeerIngressContext keep_alive=true; idempotent). A kernel refusal is an answer.
   */
  async attachIngress(sessionId: string, commsRuntimeId: string, mobId: string): Promise<RouteAnswer> {
    const d = this.drain;
    const what = `SetPeerIngressContext(${sessionId}, keep_alive)`;
    try {
      await this.call(d, d.setPeerIngressContext, { session_id: sessionId, keep_alive: true, comms_runtime_id: commsRuntimeId, mob_id: mobId }, what);
      return { accepted: true, input_id: null, deduplicated: false };
    } catch (e) {
      if (isTransportFailure(e)) throw e;
      const err = kernelError(e, what);
      return { accepted: false, code: err.metadata.kernel_code ?? err.code, message: err.message };
    }
  }

  /** Waits for the input's terminal outcome (WatchInput, target TERMINAL); `signal` cancels. */
  waitTerminal(sessionId: string, inputId: string, signal?: AbortSignal): Promise<CompletionOutcome | null> {
    return new Promise((resolve, reject) => {
      const call = this.ingress.watchInput(
        { session_id: sessionId, selector: { $case: 'input_id', input_id: inputId }, target: WatchStage.TERMINAL },
        waitingMetadata(),
      );
      let outcome: CompletionOutcome | null = null;
      let ended = false;
      const onAbort = (): void => call.cancel();
      signal?.addEventListener('abort', onAbort, { once: true });
      call.on('data', (m: WatchInputResponse) => {
        if (m.event?.$case === 'end') {
          ended = true;
          outcome = m.event.end.outcome ?? null;
        }
      });
      call.on('error', (e: grpc.ServiceError) => {
        signal?.removeEventListener('abort', onAbort);
        reject(kernelError(e, `WatchInput(${inputId})`));
      });
      call.on('end', () => {
        signal?.removeEventListener('abort', onAbort);
        if (ended) resolve(outcome);
        else reject(new MobError('KERNEL_UNAVAILABLE', `WatchInput(${inputId}) ended without an outcome`));
      });
    });
  }

  /** Opens StreamSignals after `afterSequence`. */
  streamSignals(afterSequence: number): grpc.ClientReadableStream<StreamSignalsResponse> {
    return this.composition.streamSignals({ after_sequence: afterSequence }, waitingMetadata());
  }

  /** Records the consumer's progress in the kernel (lets retention prune). */
  async acknowledge(consumer: string, sequence: number): Promise<void> {
    const c = this.composition;
    await this.call(c, c.acknowledgeSignals, { consumer, sequence }, 'AcknowledgeSignals');
  }

  close(): void {
    this.composition.close();
    this.sessions.close();
    this.ingress.close();
    this.drain.close();
  }
}
