/**
 * The streaming RPCs of `IngressService` (decision 10): `AcceptWithCompletion` and `WatchInput`.
 *
 * AcceptWithCompletion. Admission errors end the call before the first message. Then: one
 * `admission` (outcome, admission signal, `terminal_at_admission`), `heartbeat`s every
 * `heartbeat_interval_ms` (1000..15000, default 15000) while the input is pending, and exactly
 * one `completion` built from the kernel's completion handle — or, when the input (or the
 * duplicate's existing input) was already terminal, from its stored terminal outcome. Cancelling
 * the call cancels the waiter, never the input. When the call's deadline is about to expire the
 * server ends the stream with OK and no completion; the trailers then carry the current state
 * (see {@link WAIT_END_TRAILERS}) so the client can resume with `WatchInput`.
 *
 * WatchInput. Selects an input by id or idempotency key (an input that does not exist yet is
 * waited for), streams `update`s with its stored state and a resume token, and ends with one
 * `end` (target reached, deadline, session ended, server shutdown). Input state is durable: the
 * watch reads the row through the kernel (`session.inputState`, `queries.inputStateByIdempotencyKey`:
 * the live ledger, else the store) and then follows the session's committed rows (`watchRows`).
 * A session only the store knows (after a restart) is recovered first, so a watch survives a
 * server restart.
 *
 * Resume token: `w1.` + base64url(JSON) of the row's version — input id, `updated_at`, phase,
 * history length, attempt count, lane, admission sequence, last run id, last boundary sequence
 * and terminal kind. Every committed change of a row changes at least one of these (`updated_at`
 * alone can repeat within a millisecond). A watch resumed with a token does not send a state
 * equal to the token's version; any other state (newer, or changed by recovery) is sent.
 *
 * Shutdown: call {@link IngressStreams.close} before `kernel.close()`: open watches end with
 * `WatchEnd{SERVER_SHUTDOWN}` and their resume token; open AcceptWithCompletion streams end
 * UNAVAILABLE (`SERVER_SHUTTING_DOWN`, metadata `input_id`, `resume_token`) so the client
 * reattaches with WatchInput instead of seeing a "kernel shutting down" completion.
 */
import * as grpc from '@grpc/grpc-js';
import type {
  AcceptWithCompletionRequest,
  AcceptWithCompletionResponse,
  IngressServiceServer,
  WatchInputRequest,
  WatchInputResponse,
} from '../gen/meerkat/kernel/v1/ingress.js';
import { WatchEndReason, WatchStage } from '../gen/meerkat/kernel/v1/ingress.js';
import { StoredInputState } from '../gen/meerkat/kernel/v1/types.js';
import type { CompletionHandle, CompletionOutcome } from '../kernel/completion.js';
import { terminalRowOutcome } from '../kernel/core.js';
import { invalidField, KernelError, sessionNotFound } from '../kernel/errors.js';
import { parseUuidV7, runtimeIdOf } from '../kernel/ids.js';
import { MAX_KEY_LENGTH } from '../kernel/input.js';
import type { MeerkatMachine } from '../kernel/machine.js';
import type { SessionRuntime } from '../kernel/session.js';
import type { InputPublicPhase, StoredInputRow } from '../kernel/store.js';
import { toServiceError, transportError, type ErrorLogger } from './errors.js';
import { acceptOutcomeToProto, completionOutcomeToProto, inputFromProto, POST_ADMISSION_SIGNAL, storedInputToProto } from './mapping.js';

/** Default and bounds of `heartbeat_interval_ms`. */
export const HEARTBEAT_DEFAULT_MS = 15_000;
export const HEARTBEAT_MIN_MS = 1_000;
export const HEARTBEAT_MAX_MS = 15_000;
/** Longest accepted resume token. */
export const MAX_RESUME_TOKEN_LENGTH = 1024;
/** How often a watch re-checks its session (unregistered, destroyed, reloaded). */
export const SESSION_CHECK_MS = 1_000;
/** How long a watch that saw its input turn terminal waits for the waiter's outcome (it carries the run result). */
const WAITER_OUTCOME_WAIT_MS = 500;

/**
 * Trailers of an AcceptWithCompletion stream that ended without a completion (deadline):
 * why, the input id, its current phase, a WatchInput resume token, and the encoded
 * `StoredInputState` (binary trailer).
 */
export const WAIT_END_TRAILERS = {
  reason: 'x-meerkat-wait-end',
  inputId: 'x-meerkat-input-id',
  phase: 'x-meerkat-input-phase',
  resumeToken: 'x-meerkat-resume-token',
  state: 'x-meerkat-input-state-bin',
} as const;

export interface IngressStreamsOptions {
  /** Receives unexpected errors with the error id sent to the client. */
  readonly log?: ErrorLogger;
  /** Overrides {@link SESSION_CHECK_MS} (tests). */
  readonly sessionCheckMs?: number;
}

type AcceptCall = grpc.ServerWritableStream<AcceptWithCompletionRequest, AcceptWithCompletionResponse>;
type WatchCall = grpc.ServerWritableStream<WatchInputRequest, WatchInputResponse>;

/** Something open that shutdown must end. */
interface OpenStream {
  shutdown(): void;
}

export class IngressStreams {
  private readonly open = new Set<OpenStream>();
  private closed = false;

  constructor(
    private readonly kernel: MeerkatMachine,
    private readonly options: IngressStreamsOptions = {},
  ) {}

  /** The two streaming handlers of `meerkat.kernel.v1.IngressService`. */
  handlers(): Pick<IngressServiceServer, 'acceptWithCompletion' | 'watchInput'> {
    return {
      acceptWithCompletion: (call: AcceptCall) => void this.acceptWithCompletion(call),
      watchInput: (call: WatchCall) => void this.watchInput(call),
    };
  }

  /** Number of open streams (diagnostics). */
  get openStreams(): number {
    return this.open.size;
  }

  /** Ends every open stream (server shutdown); call before `kernel.close()`. */
  close(): void {
    this.closed = true;
    for (const s of [...this.open]) s.shutdown();
    this.open.clear();
  }

  // -------------------------------------------------------------------------------------------
  // AcceptWithCompletion

  private async acceptWithCompletion(call: AcceptCall): Promise<void> {
    const req = call.request;
    const out = new StreamOut<AcceptWithCompletionResponse>(call);
    if (this.closed) return out.fail(transportError('SERVER_SHUTTING_DOWN', 'the kernel server is shutting down'));
    let handle: CompletionHandle | null = null;
    let inputId = '';
    let sessionId = '';
    try {
      const interval = heartbeatInterval(req.heartbeat_interval_ms);
      const input = inputFromProto(req.input, 'input');
      const r = await this.kernel.ingress.acceptWithCompletion(req.session_id, input);
      sessionId = parseUuidV7(req.session_id, 'session_id');
      handle = r.handle;
      inputId = r.outcome.type === 'accepted' ? r.outcome.input_id : r.outcome.existing_id;
      if (out.done) {
        handle?.cancel();
        return;
      }
      out.send({
        event: {
          $case: 'admission',
          admission: {
            outcome: acceptOutcomeToProto(r.outcome),
            admission_signal: POST_ADMISSION_SIGNAL.toProto(r.admission_signal),
            terminal_at_admission: handle === null,
          },
        },
      });
      if (handle === null) {
        const row = r.outcome.type === 'accepted' ? r.outcome.row : r.outcome.existing;
        const outcome: CompletionOutcome = row
          ? terminalRowOutcome(row)
          : { kind: 'wait_error', error: 'AuthorityUnavailable', message: `input ${inputId} could not be loaded` };
        out.send({ event: { $case: 'completion', completion: { input_id: inputId, outcome: completionOutcomeToProto(outcome) } } });
        return out.end();
      }
      out.heartbeats(interval, () => ({ event: { $case: 'heartbeat', heartbeat: { sent_at: Date.now() } } }));
      const h = handle;
      const stream: OpenStream = {
        shutdown: () => {
          h.cancel();
          void this.currentRow(sessionId, inputId).then((row) => {
            const metadata: Record<string, string> = { input_id: inputId };
            if (row) metadata.resume_token = encodeToken(row);
            out.fail(transportError('SERVER_SHUTTING_DOWN', 'the kernel server is shutting down; reattach with WatchInput', metadata));
          });
        },
      };
      this.open.add(stream);
      out.onFinish(() => {
        h.cancel();
        this.open.delete(stream);
      });
      out.atDeadline(async () => {
        h.cancel();
        const row = await this.currentRow(sessionId, inputId);
        const md = new grpc.Metadata();
        md.set(WAIT_END_TRAILERS.reason, 'deadline');
        md.set(WAIT_END_TRAILERS.inputId, inputId);
        if (row) {
          md.set(WAIT_END_TRAILERS.phase, row.phase);
          md.set(WAIT_END_TRAILERS.resumeToken, encodeToken(row));
          md.set(WAIT_END_TRAILERS.state, Buffer.from(StoredInputState.encode(storedInputToProto(row)).finish()));
        }
        out.end(md);
      });
      const outcome = await h.outcome;
      if (out.done) return;
      out.send({ event: { $case: 'completion', completion: { input_id: inputId, outcome: completionOutcomeToProto(outcome) } } });
      out.end();
    } catch (e) {
      handle?.cancel();
      out.fail(toServiceError(e, this.options.log));
    }
  }

  /** The input's row now, or null (never throws: used on the way out). */
  private async currentRow(sessionId: string, inputId: string): Promise<StoredInputRow | null> {
    try {
      return await this.kernel.session.inputState(sessionId, inputId);
    } catch {
      return null;
    }
  }

  // -------------------------------------------------------------------------------------------
  // WatchInput

  private async watchInput(call: WatchCall): Promise<void> {
    const out = new StreamOut<WatchInputResponse>(call);
    if (this.closed) return out.fail(transportError('SERVER_SHUTTING_DOWN', 'the kernel server is shutting down'));
    try {
      const spec = parseWatch(call.request);
      const session = await this.loadSession(spec.sessionId);
      if (out.done) return;
      const watch = new InputWatch(this.kernel, spec, out, this.options.sessionCheckMs ?? SESSION_CHECK_MS, (s) => this.loadSessionOrNull(s));
      this.open.add(watch);
      out.onFinish(() => {
        watch.dispose();
        this.open.delete(watch);
      });
      out.heartbeats(spec.heartbeatMs, () => ({ event: { $case: 'heartbeat', heartbeat: { sent_at: Date.now() } } }));
      out.atDeadline(() => watch.finish(WatchEndReason.DEADLINE));
      await watch.start(session);
    } catch (e) {
      out.fail(toServiceError(e, this.options.log));
    }
  }

  /** A registered session; one only the store knows (e.g. after a restart) is recovered first. */
  private async loadSession(sessionId: string): Promise<SessionRuntime> {
    const s = await this.loadSessionOrNull(sessionId);
    if (!s) throw sessionNotFound(sessionId);
    return s;
  }

  private async loadSessionOrNull(sessionId: string): Promise<SessionRuntime | null> {
    const live = this.kernel.core.sessions.get(sessionId);
    if (live) return live;
    let doc;
    try {
      doc = await this.kernel.core.store.loadSession(runtimeIdOf(sessionId));
    } catch (e) {
      throw storeRead(e);
    }
    if (!doc) return null;
    return (await this.kernel.core.ensureRegistered(sessionId)).session;
  }
}

// ---------------------------------------------------------------------------------------------
// One watch

interface WatchSpec {
  readonly sessionId: string;
  readonly selector: { readonly inputId: string } | { readonly key: string };
  readonly target: WatchStage;
  readonly resume: RowVersion | null;
  readonly heartbeatMs: number;
}

function parseWatch(req: WatchInputRequest): WatchSpec {
  const sessionId = parseUuidV7(req.session_id, 'session_id');
  const sel = req.selector;
  if (!sel) throw invalidField('selector', 'give exactly one of input_id or idempotency_key');
  let selector: WatchSpec['selector'];
  if (sel.$case === 'input_id') selector = { inputId: parseUuidV7(sel.input_id, 'input_id') };
  else {
    const key = sel.idempotency_key;
    if (key.length === 0 || key.length > MAX_KEY_LENGTH) {
      throw invalidField('idempotency_key', `must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`);
    }
    selector = { key };
  }
  const target = req.target === WatchStage.UNSPECIFIED ? WatchStage.TERMINAL : req.target;
  if (!(target in STAGE_RANK)) throw invalidField('target', 'must be ADMITTED, QUEUED, STAGED or TERMINAL');
  const resume = req.resume_token !== undefined && req.resume_token !== '' ? decodeToken(req.resume_token) : null;
  if (resume && 'inputId' in selector && resume.i !== selector.inputId) {
    throw invalidField('resume_token', 'is the token of another input');
  }
  return { sessionId, selector, target, resume, heartbeatMs: heartbeatInterval(req.heartbeat_interval_ms) };
}

const STAGE_RANK: Readonly<Partial<Record<WatchStage, number>>> = {
  [WatchStage.ADMITTED]: 0,
  [WatchStage.QUEUED]: 1,
  [WatchStage.STAGED]: 2,
  [WatchStage.TERMINAL]: 5,
};

const PHASE_RANK: Readonly<Record<InputPublicPhase, number>> = {
  accepted: 0,
  queued: 1,
  staged: 2,
  applied: 3,
  applied_pending_consumption: 4,
  consumed: 5,
  superseded: 5,
  coalesced: 5,
  abandoned: 5,
};

function reached(row: StoredInputRow, target: WatchStage): boolean {
  if (row.terminal_outcome !== null) return true;
  return PHASE_RANK[row.phase] >= (STAGE_RANK[target] ?? 5);
}

class InputWatch implements OpenStream {
  private session: SessionRuntime | null = null;
  private unsubscribe: (() => void) | null = null;
  private inputId: string | null;
  private latest: StoredInputRow | null = null;
  private lastSent: string | null;
  private waiter: CompletionHandle | null = null;
  private waiterOutcome: CompletionOutcome | null = null;
  private chain: Promise<void> = Promise.resolve();
  private sawRow = false;
  private checkTimer: NodeJS.Timeout | null = null;
  private checking = false;
  private finished = false;

  constructor(
    private readonly kernel: MeerkatMachine,
    private readonly spec: WatchSpec,
    private readonly out: StreamOut<WatchInputResponse>,
    private readonly checkMs: number,
    private readonly reloadSession: (sessionId: string) => Promise<SessionRuntime | null>,
  ) {
    this.inputId = 'inputId' in spec.selector ? spec.selector.inputId : null;
    this.lastSent = spec.resume ? versionKey(spec.resume) : null;
  }

  async start(session: SessionRuntime): Promise<void> {
    await this.attach(session);
    this.checkTimer = setInterval(() => void this.checkSession(), this.checkMs);
    this.checkTimer.unref();
  }

  /** Follows `session`'s committed rows, then reads the input's current row. */
  private async attach(session: SessionRuntime): Promise<void> {
    this.unsubscribe?.();
    this.waiter?.cancel();
    this.waiter = null;
    this.waiterOutcome = null;
    this.session = session;
    this.sawRow = false;
    this.unsubscribe = session.watchRows((row) => {
      if (!this.matches(row)) return;
      this.sawRow = true;
      this.enqueue(row);
    });
    let row: StoredInputRow | null;
    try {
      row =
        this.inputId !== null
          ? await this.kernel.session.inputState(this.spec.sessionId, this.inputId)
          : await this.kernel.queries.inputStateByIdempotencyKey(this.spec.sessionId, (this.spec.selector as { key: string }).key);
    } catch (e) {
      throw e instanceof KernelError ? e : storeRead(e);
    }
    // A committed row seen meanwhile is at least as new as what the read returned.
    if (row && !this.sawRow && this.session === session) this.enqueue(row);
    else if (!row && session.phase === 'Destroyed') this.enqueueEnd(WatchEndReason.SESSION_ENDED);
  }

  private matches(row: StoredInputRow): boolean {
    if (this.inputId !== null) return row.input_id === this.inputId;
    return row.idempotency_key === (this.spec.selector as { key: string }).key;
  }

  private enqueue(row: StoredInputRow): void {
    this.chain = this.chain.then(() => this.onRow(row)).catch((e: unknown) => this.out.fail(toServiceError(e)));
  }

  private enqueueEnd(reason: WatchEndReason): void {
    this.chain = this.chain.then(() => this.finish(reason));
  }

  private async onRow(row: StoredInputRow): Promise<void> {
    if (this.finished || this.out.done) return;
    if (this.inputId === null) {
      if (this.spec.resume && this.spec.resume.i !== row.input_id) {
        throw invalidField('resume_token', 'is the token of another input');
      }
      this.inputId = row.input_id;
    }
    if (row.input_id !== this.inputId) return;
    this.latest = row;
    const key = versionKey(versionOf(row));
    if (key !== this.lastSent) {
      this.lastSent = key;
      this.out.send({ event: { $case: 'update', update: { state: storedInputToProto(row), resume_token: encodeToken(row) } } });
    }
    if (reached(row, this.spec.target)) {
      await this.finish(WatchEndReason.TARGET_REACHED);
      return;
    }
    if (this.spec.target === WatchStage.TERMINAL && this.waiter === null && this.session) this.registerWaiter(this.session, row.input_id);
  }

  /**
   * A waiter on the live session gives a live watch the outcome a completion waiter sees
   * (including the run's result text, which the stored row does not keep).
   */
  private registerWaiter(session: SessionRuntime, inputId: string): void {
    const handle = session.waiters.register(inputId);
    this.waiter = handle;
    void handle.outcome.then((o) => {
      // Used only once the row is terminal (finish): a waiter resolved while the input was still
      // pending (e.g. its session was dropped for a reload) is replaced when the watch follows the
      // reloaded session (attach resets it).
      if (this.waiter === handle) this.waiterOutcome = o;
    });
  }

  /** Ends the watch with `reason` and the current state; idempotent. */
  async finish(reason: WatchEndReason): Promise<void> {
    if (this.finished || this.out.done) return;
    this.finished = true;
    const row = this.latest;
    let outcome: CompletionOutcome | null = null;
    if (row?.terminal_outcome) {
      // The waiter resolves just after the terminal row is committed; give it a moment.
      outcome = this.waiterOutcome;
      if (!outcome && this.waiter) {
        const timeout = new Promise<null>((resolve) => setTimeout(() => resolve(null), WAITER_OUTCOME_WAIT_MS).unref());
        outcome = await Promise.race([this.waiter.outcome, timeout]);
      }
      outcome ??= terminalRowOutcome(row);
    }
    this.dispose();
    if (this.out.done) return;
    this.out.send({
      event: {
        $case: 'end',
        end: {
          reason,
          state: row ? storedInputToProto(row) : undefined,
          resume_token: row ? encodeToken(row) : '',
          outcome: outcome ? completionOutcomeToProto(outcome) : undefined,
        },
      },
    });
    this.out.end();
  }

  shutdown(): void {
    void this.finish(WatchEndReason.SERVER_SHUTDOWN);
  }

  dispose(): void {
    if (this.checkTimer) clearInterval(this.checkTimer);
    this.checkTimer = null;
    this.unsubscribe?.();
    this.unsubscribe = null;
    this.waiter?.cancel();
  }

  /** Follows a reloaded session object; ends when the session is gone or destroyed without the input. */
  private async checkSession(): Promise<void> {
    if (this.checking || this.finished) return;
    this.checking = true;
    try {
      const current = this.kernel.core.sessions.get(this.spec.sessionId);
      if (current === this.session) {
        if (current?.phase === 'Destroyed' && this.latest === null) this.enqueueEnd(WatchEndReason.SESSION_ENDED);
        return;
      }
      const next = current ?? (await this.reloadSession(this.spec.sessionId));
      if (this.finished) return;
      if (!next) {
        this.enqueueEnd(WatchEndReason.SESSION_ENDED);
        return;
      }
      await this.attach(next);
    } catch {
      // The next check retries (e.g. the store was briefly unavailable).
    } finally {
      this.checking = false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Resume tokens

/** The version of a stored row a resume token names. */
interface RowVersion {
  readonly i: string;
  readonly u: number;
  readonly p: string;
  readonly h: number;
  readonly a: number;
  readonly l: string | null;
  readonly s: number | null;
  readonly r: string | null;
  readonly b: number | null;
  readonly t: string | null;
}

const TOKEN_PREFIX = 'w1.';

function versionOf(row: StoredInputRow): RowVersion {
  return {
    i: row.input_id,
    u: row.updated_at,
    p: row.phase,
    h: row.history.length,
    a: row.attempt_count,
    l: row.lane,
    s: row.admission_sequence,
    r: row.last_run_id,
    b: row.last_boundary_sequence,
    t: row.terminal_outcome?.outcome_type ?? null,
  };
}

function versionKey(v: RowVersion): string {
  return JSON.stringify([v.i, v.u, v.p, v.h, v.a, v.l, v.s, v.r, v.b, v.t]);
}

/** The resume token of a row's current version. */
export function encodeToken(row: StoredInputRow): string {
  return TOKEN_PREFIX + Buffer.from(JSON.stringify(versionOf(row)), 'utf8').toString('base64url');
}

function decodeToken(token: string): RowVersion {
  const badToken = (why: string): KernelError => invalidField('resume_token', why);
  if (token.length > MAX_RESUME_TOKEN_LENGTH) throw badToken(`is longer than ${MAX_RESUME_TOKEN_LENGTH} characters`);
  if (!token.startsWith(TOKEN_PREFIX)) throw badToken('is not a resume token of this server');
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(token.slice(TOKEN_PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw badToken('does not decode');
  }
  const o = raw as Partial<Record<keyof RowVersion, unknown>>;
  const nullable = (x: unknown, t: 'string' | 'number'): boolean => x === null || typeof x === t;
  if (
    typeof raw !== 'object' ||
    raw === null ||
    typeof o.i !== 'string' ||
    typeof o.u !== 'number' ||
    typeof o.p !== 'string' ||
    typeof o.h !== 'number' ||
    typeof o.a !== 'number' ||
    !nullable(o.l, 'string') ||
    !nullable(o.s, 'number') ||
    !nullable(o.r, 'string') ||
    !nullable(o.b, 'number') ||
    !nullable(o.t, 'string')
  ) {
    throw badToken('does not decode');
  }
  return raw as RowVersion;
}

// ---------------------------------------------------------------------------------------------
// Helpers

function heartbeatInterval(ms: number | undefined): number {
  if (ms === undefined || ms === 0) return HEARTBEAT_DEFAULT_MS;
  if (ms < HEARTBEAT_MIN_MS || ms > HEARTBEAT_MAX_MS) {
    throw invalidField('heartbeat_interval_ms', `must be between ${HEARTBEAT_MIN_MS} and ${HEARTBEAT_MAX_MS} (or 0 for the default)`);
  }
  return ms;
}

function storeRead(e: unknown): KernelError {
  if (e instanceof KernelError) return e;
  return new KernelError('STORE_UNAVAILABLE', `reading the store failed: ${e instanceof Error ? e.message : String(e)}`);
}

/**
 * One server stream's output side: writes until ended or cancelled, re-armed heartbeats,
 * the deadline hook (fires shortly before the gRPC deadline) and cleanup on finish.
 */
class StreamOut<T> {
  private finished = false;
  private heartbeat: { readonly ms: number; readonly make: () => T; timer: NodeJS.Timeout | null } | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private readonly finishHooks: (() => void)[] = [];

  constructor(private readonly call: grpc.ServerWritableStream<unknown, T>) {
    call.on('cancelled', () => this.finish());
    call.on('close', () => this.finish());
  }

  get done(): boolean {
    return this.finished || this.call.cancelled;
  }

  send(message: T): void {
    if (this.done) return;
    this.call.write(message);
    this.armHeartbeat();
  }

  end(trailers?: grpc.Metadata): void {
    if (this.done) return;
    this.finish();
    this.call.end(trailers);
  }

  fail(error: grpc.ServiceError): void {
    if (this.done) return;
    this.finish();
    this.call.emit('error', error);
  }

  onFinish(hook: () => void): void {
    if (this.finished) hook();
    else this.finishHooks.push(hook);
  }

  heartbeats(ms: number, make: () => T): void {
    this.heartbeat = { ms, make, timer: null };
    this.armHeartbeat();
  }

  /** Runs `hook` shortly before the call's deadline (nothing when it has none). */
  atDeadline(hook: () => void | Promise<void>): void {
    const d = this.call.getDeadline();
    const deadline = d instanceof Date ? d.getTime() : d;
    if (!Number.isFinite(deadline)) return;
    const remaining = deadline - Date.now();
    const margin = Math.min(1_000, Math.max(50, remaining * 0.1));
    this.deadlineTimer = setTimeout(() => {
      if (!this.done) void hook();
    }, Math.max(0, remaining - margin));
  }

  private armHeartbeat(): void {
    const hb = this.heartbeat;
    if (!hb || this.done) return;
    if (hb.timer) clearTimeout(hb.timer);
    hb.timer = setTimeout(() => {
      hb.timer = null;
      this.send(hb.make());
    }, hb.ms);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.heartbeat?.timer) clearTimeout(this.heartbeat.timer);
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    for (const h of this.finishHooks.splice(0)) h();
  }
}
