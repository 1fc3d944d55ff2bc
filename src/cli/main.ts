#!/usr/bin/env node
/**
 * `meerkat` — the command-line client of the Meerkat kernel's gRPC surface.
 *
 *   meerkat new-id                                   a fresh UUID v7 (session ids must be v7)
 *   meerkat register <session>                       SessionService.RegisterSession
 *   meerkat ensure <session> [--executor echo]       SessionService.EnsureSessionWithExecutor
 *   meerkat accept <session> <text> [--wait] …       IngressService.AcceptWithCompletion / AcceptWithoutWake
 *   meerkat watch <session> --input ID | --key K     IngressService.WatchInput
 *   meerkat inputs|input|state …                     read models
 *   meerkat retire|reset|recover|recycle|destroy|stop <session>
 *   meerkat call <Service>.<Rpc> '<json>'            any other RPC (proto3 JSON in, proto3 JSON out)
 *   meerkat mob …                                    the mob sidecar's MobService (src/cli/mob.ts)
 *
 * Global options: `--address` (env MEERKAT_ADDRESS, default 127.0.0.1:50051), `--json`,
 * `--timeout` (unary calls default to 30 s; streams wait without a deadline unless given).
 *
 * Exit codes: 0 ok; 1 the call failed (stderr: `CODE reason: message` and field violations);
 * 2 usage error; 3 the awaited input ended without completing (abandoned, cancelled, …) or a
 * watch ended before its target; 130 interrupted.
 */
import { readFileSync } from 'node:fs';
import type * as grpc from '@grpc/grpc-js';
import { Command, InvalidArgumentError, Option, type CommanderError } from 'commander';
import { v7 as uuidv7 } from 'uuid';
import {
  ControlServiceService,
  DestroyResponse,
  RecoverResponse,
  RecycleResponse,
  ResetResponse,
  RetireResponse,
  RuntimeStateResponse,
  type RuntimeStateRequest,
} from '../gen/meerkat/kernel/v1/control.js';
import {
  AcceptWithCompletionResponse,
  AcceptWithoutWakeResponse,
  IngressServiceService,
  WatchEndReason,
  WatchInputResponse,
  WatchStage,
  type WatchInputRequest,
} from '../gen/meerkat/kernel/v1/ingress.js';
import {
  EnsureSessionWithExecutorResponse,
  InputStateResponse,
  ListActiveInputsResponse,
  RegisterSessionResponse,
  SessionServiceService,
  StopRuntimeExecutorResponse,
} from '../gen/meerkat/kernel/v1/session.js';
import { Durability, HandlingMode, type CompletionOutcome, type Input } from '../gen/meerkat/kernel/v1/types.js';
import {
  admittedInputId,
  describeAdmission,
  describeCompletion,
  describeInput,
  describeRecovery,
  describeStage,
  isSuccessfulCompletion,
  runtimeStateLabel,
  watchEndLabel,
} from './format.js';
import { addMobCommands } from './mob.js';
import { CliFailure, HintedError, KernelConnection, consume, describeError, formatError, isServiceError, type Method } from './rpc.js';
import { allMethods, findMethod } from './services.js';

const DEFAULT_ADDRESS = '127.0.0.1:50051';
const DEFAULT_UNARY_TIMEOUT_MS = 30_000;
const RUNTIME_PREFIX = 'rt:session:';

const EXIT_FAILED = 1;
const EXIT_USAGE = 2;
const EXIT_NOT_COMPLETED = 3;
const EXIT_INTERRUPTED = 130;

interface GlobalOptions {
  readonly address: string;
  readonly json?: boolean;
  readonly timeout?: number;
}

// ---------------------------------------------------------------------------------------------
// Context of one invocation

class Ctx {
  readonly conn: KernelConnection;
  readonly json: boolean;
  private readonly timeoutMs: number | undefined;

  constructor(opts: GlobalOptions) {
    this.conn = new KernelConnection(opts.address);
    this.json = opts.json === true;
    this.timeoutMs = opts.timeout;
  }

  /** Deadline of a unary call: `--timeout`, else 30 s. */
  unaryDeadline(): number {
    return Date.now() + (this.timeoutMs ?? DEFAULT_UNARY_TIMEOUT_MS);
  }

  /** Deadline of a stream: `--timeout` if given, else none. */
  streamDeadline(): number | undefined {
    return this.timeoutMs === undefined ? undefined : Date.now() + this.timeoutMs;
  }

  unary<Req, Res>(method: Method<Req, Res>, request: Req): Promise<Res> {
    return this.conn.unary(method, request, { deadline: this.unaryDeadline() });
  }

  /** One line on stdout. */
  out(line: string): void {
    process.stdout.write(`${line}\n`);
  }

  /** One progress line on stderr (suppressed with --json: stderr then carries only errors). */
  progress(line: string): void {
    if (!this.json) process.stderr.write(`${line}\n`);
  }

  /** `--json`: the message's proto3 JSON on one line; otherwise the human rendering. */
  emit<T>(type: { toJSON(m: T): unknown }, message: T, human: () => string | null): void {
    if (this.json) this.out(JSON.stringify(type.toJSON(message)));
    else {
      const text = human();
      if (text !== null) this.out(text);
    }
  }
}

/** Runs one command action with a connection, reporting errors and setting the exit code. */
async function runAction(cmd: Command, action: (ctx: Ctx) => Promise<number | void>): Promise<void> {
  const ctx = new Ctx(cmd.optsWithGlobals<GlobalOptions>());
  try {
    const code = await action(ctx);
    process.exitCode = code ?? 0;
  } catch (e) {
    reportError(e, ctx.json, ctx.conn.address);
    process.exitCode = e instanceof CliFailure ? e.exitCode : EXIT_FAILED;
  } finally {
    ctx.conn.close();
  }
}

function reportError(e: unknown, json: boolean, address?: string): void {
  let report = describeError(e);
  if (report.code === 'UNAVAILABLE' && report.reason === null) {
    // The transport failed before any server answered: say where we tried.
    const message = report.message.replace(/\s*Resolution note:\s*$/, '');
    report = { ...report, message: address ? `${message} (is a kernel listening at ${address}? start one with \`npm start\` or pass --address)` : message };
  }
  if (json) process.stderr.write(`${JSON.stringify({ error: report })}\n`);
  else process.stderr.write(`${formatError(report)}\n`);
}

/** Cancels `cancel` on Ctrl-C; `interrupted()` tells whether that happened. */
function onInterrupt(cancel: () => void): { interrupted: () => boolean; dispose: () => void } {
  let hit = false;
  const handler = (): void => {
    hit = true;
    cancel();
  };
  process.once('SIGINT', handler);
  return { interrupted: () => hit, dispose: () => process.off('SIGINT', handler) };
}

// ---------------------------------------------------------------------------------------------
// Argument helpers

/** `2`, `2s`, `1.5s`, `500ms`, `2m` → milliseconds (a bare number is seconds). */
export function parseDuration(raw: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$/.exec(raw);
  if (!m) throw new InvalidArgumentError('expected a duration such as 30, 30s, 500ms or 2m');
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000;
  if (ms <= 0) throw new InvalidArgumentError('must be positive');
  return Math.round(ms);
}

/** Accepts `<uuid>` or `rt:session:<uuid>`; returns the session id. */
function sessionArg(raw: string): string {
  return raw.startsWith(RUNTIME_PREFIX) ? raw.slice(RUNTIME_PREFIX.length) : raw;
}

const runtimeIdOf = (session: string): string => `${RUNTIME_PREFIX}${sessionArg(session)}`;

function readStdin(): string {
  return readFileSync(0, 'utf8');
}

/** `-` reads stdin; anything else is taken literally (`@…` is left alone: executors read directives). */
function textArg(raw: string): string {
  return raw === '-' ? readStdin() : raw;
}

/** `-` reads stdin, `@path` reads a file, anything else is the JSON text itself. */
function jsonArg(raw: string): string {
  if (raw === '-') return readStdin();
  if (raw.startsWith('@') && raw.length > 1) return readFileSync(raw.slice(1), 'utf8');
  return raw;
}

const elapsed = (t0: number): string => `${((Date.now() - t0) / 1000).toFixed(1)}s`;

const STAGES: Readonly<Record<string, WatchStage>> = {
  admitted: WatchStage.ADMITTED,
  queued: WatchStage.QUEUED,
  staged: WatchStage.STAGED,
  terminal: WatchStage.TERMINAL,
};

function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    const v = typeof pkg === 'object' && pkg !== null ? (pkg as { version?: unknown }).version : undefined;
    return typeof v === 'string' ? v : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

// ---------------------------------------------------------------------------------------------
// accept / watch

interface AcceptOptions {
  readonly key?: string;
  readonly steer?: boolean;
  readonly wait?: boolean;
  readonly withoutWake?: boolean;
  readonly heartbeat?: number;
}

function promptInput(text: string, o: AcceptOptions): Input {
  return {
    durability: Durability.UNSPECIFIED,
    idempotency_key: o.key,
    body: {
      input_type: {
        $case: 'prompt',
        prompt: { text, handling_mode: o.steer ? HandlingMode.STEER : HandlingMode.UNSPECIFIED },
      },
    },
  };
}

/** Prints a completion: the result text (or a description) on stdout; the exit code it implies. */
function finishCompletion(ctx: Ctx, outcome: CompletionOutcome | undefined): number {
  if (!ctx.json) ctx.out(describeCompletion(outcome));
  return isSuccessfulCompletion(outcome) ? 0 : EXIT_NOT_COMPLETED;
}

function interruptedFailure(inputId: string | null, session: string): CliFailure {
  const hint = inputId
    ? `; input ${inputId} stays admitted — follow it with: meerkat watch ${session} --input ${inputId}`
    : '';
  return new CliFailure('CANCELLED', `interrupted${hint}`, EXIT_INTERRUPTED);
}

/** Adds "the input stays admitted" to a failure that happened after admission. */
function withWatchHint(e: unknown, inputId: string | null, session: string): unknown {
  if (inputId === null || !isServiceError(e)) return e;
  const token = describeError(e).metadata.resume_token;
  const resume = token ? ` --resume ${token}` : '';
  return new HintedError(e, `input ${inputId} stays admitted; follow it with: meerkat watch ${session} --input ${inputId}${resume}`);
}

async function acceptWithCompletion(ctx: Ctx, session: string, text: string, o: AcceptOptions): Promise<number> {
  const t0 = Date.now();
  const call = ctx.conn.serverStream(
    IngressServiceService.acceptWithCompletion,
    { session_id: session, input: promptInput(text, o), heartbeat_interval_ms: o.heartbeat },
    { deadline: o.wait ? ctx.streamDeadline() : ctx.unaryDeadline() },
  );
  const intr = onInterrupt(() => call.cancel());
  let inputId: string | null = null;
  let completion: CompletionOutcome | undefined;
  let completed = false;
  let trailers: grpc.Metadata | null;
  try {
    trailers = await consume(call, (msg) => {
      if (ctx.json) ctx.out(JSON.stringify(AcceptWithCompletionResponse.toJSON(msg)));
      const ev = msg.event;
      switch (ev?.$case) {
        case 'admission': {
          inputId = admittedInputId(ev.admission.outcome);
          const line = describeAdmission(ev.admission.outcome, ev.admission.admission_signal);
          if (!o.wait) {
            if (!ctx.json) ctx.out(line);
            // Without --wait only the admission matters: cancelling removes the waiter, never the input.
            return 'stop';
          }
          ctx.progress(`${line}${ev.admission.terminal_at_admission ? ' — already terminal' : ''}; waiting for its completion…`);
          return;
        }
        case 'heartbeat':
          ctx.progress(`still waiting… ${elapsed(t0)} elapsed${inputId ? ` (input ${inputId})` : ''}`);
          return;
        case 'completion':
          // The server ends the stream with OK right after the completion.
          completion = ev.completion.outcome;
          completed = true;
          return;
        default:
          return;
      }
    });
  } catch (e) {
    if (intr.interrupted()) throw interruptedFailure(inputId, session);
    throw withWatchHint(e, inputId, session);
  } finally {
    intr.dispose();
  }
  if (!o.wait) return 0;
  if (!completed) throw waitEndedEarly(trailers, inputId, session);
  ctx.progress(`completed after ${elapsed(t0)}`);
  return finishCompletion(ctx, completion);
}

/**
 * The server ended an AcceptWithCompletion stream with OK but without a completion (its deadline
 * is near): the trailers say why, the input's phase and a WatchInput resume token.
 */
function waitEndedEarly(trailers: grpc.Metadata | null, inputId: string | null, session: string): CliFailure {
  const get = (key: string): string | null => {
    const v = trailers?.get(key)[0];
    return typeof v === 'string' && v !== '' ? v : null;
  };
  const reason = get('x-meerkat-wait-end') ?? 'the stream ended';
  const id = get('x-meerkat-input-id') ?? inputId;
  const phase = get('x-meerkat-input-phase');
  const token = get('x-meerkat-resume-token');
  const where = id ? ` input ${id} is still ${phase ?? 'pending'} and stays admitted;` : '';
  const follow = id ? ` follow it with: meerkat watch ${session} --input ${id}${token ? ` --resume ${token}` : ''}` : '';
  return new CliFailure(reason === 'deadline' ? 'DEADLINE_EXCEEDED' : 'ABORTED', `${reason} before the completion;${where}${follow}`, EXIT_NOT_COMPLETED);
}

interface WatchRun {
  readonly request: WatchInputRequest;
  /** Print updates (watch) or only wait for the end (accept --without-wake --wait). */
  readonly showUpdates: boolean;
}

/** Streams WatchInput; returns the end message (or throws). */
async function watchInput(ctx: Ctx, run: WatchRun): Promise<{ reason: WatchEndReason; outcome?: CompletionOutcome; token: string }> {
  const t0 = Date.now();
  const call = ctx.conn.serverStream(IngressServiceService.watchInput, run.request, { deadline: ctx.streamDeadline() });
  const intr = onInterrupt(() => call.cancel());
  let end: { reason: WatchEndReason; outcome?: CompletionOutcome; token: string } | null = null;
  let lastToken = run.request.resume_token ?? '';
  try {
    await consume(call, (msg) => {
      if (ctx.json) ctx.out(JSON.stringify(WatchInputResponse.toJSON(msg)));
      const ev = msg.event;
      switch (ev?.$case) {
        case 'update':
          lastToken = ev.update.resume_token || lastToken;
          if (ev.update.state) {
            const line = describeStage(ev.update.state);
            if (run.showUpdates && !ctx.json) ctx.out(line);
            else ctx.progress(line);
          }
          return;
        case 'heartbeat':
          ctx.progress(`still waiting… ${elapsed(t0)} elapsed`);
          return;
        case 'end':
          // Always last: the server then ends the stream with OK.
          end = { reason: ev.end.reason, outcome: ev.end.outcome, token: ev.end.resume_token || lastToken };
          return;
        default:
          return;
      }
    });
  } catch (e) {
    if (intr.interrupted()) {
      const selector = run.request.selector;
      const id = selector?.$case === 'input_id' ? selector.input_id : null;
      const resume = lastToken ? ` (resume with --resume ${lastToken})` : '';
      throw new CliFailure('CANCELLED', `interrupted${id ? ` watching input ${id}` : ''}${resume}`, EXIT_INTERRUPTED);
    }
    throw e;
  } finally {
    intr.dispose();
  }
  if (end === null) throw new CliFailure('UNKNOWN', 'the watch stream ended without an end message');
  return end;
}

// ---------------------------------------------------------------------------------------------
// The program

function buildProgram(): Command {
  const program = new Command();
  program
    .name('meerkat')
    .description('Command-line client of the Meerkat kernel (gRPC).')
    .version(packageVersion())
    .addOption(
      new Option('-a, --address <host:port>', 'kernel gRPC address').env('MEERKAT_ADDRESS').default(DEFAULT_ADDRESS),
    )
    .option('--json', 'print replies as proto3 JSON (streams: one JSON object per message); errors as JSON on stderr')
    .addOption(
      new Option('-t, --timeout <duration>', 'call deadline, e.g. 10, 10s, 500ms, 2m (unary calls default to 30s; streams wait forever)')
        .env('MEERKAT_TIMEOUT')
        .argParser(parseDuration),
    )
    .showHelpAfterError('(run meerkat --help for usage)')
    .exitOverride((err: CommanderError) => {
      const benign = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help';
      process.exit(benign ? 0 : EXIT_USAGE);
    });

  program.addHelpText(
    'after',
    `
Examples:
  S=$(meerkat new-id)
  meerkat ensure $S --executor echo
  meerkat accept $S "hello" --wait          # prints: hello
  meerkat state $S                          # attached
  meerkat call ControlService.RuntimeState '{"runtime_id":"rt:session:'$S'"}'

Exit codes: 0 ok, 1 call failed, 2 usage, 3 input did not complete / watch ended early, 130 interrupted.`,
  );

  program
    .command('new-id')
    .description('print a fresh UUID v7 (session, input and run ids must be UUID v7)')
    .action((_opts: unknown, cmd: Command) => {
      const id = uuidv7();
      const json = cmd.optsWithGlobals<GlobalOptions>().json === true;
      process.stdout.write(json ? `${JSON.stringify({ id })}\n` : `${id}\n`);
    });

  program
    .command('register <session>')
    .description('register a session (idempotent); a session the store knows is recovered (RegisterSession)')
    .action((session: string, _opts: unknown, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        const id = sessionArg(session);
        const r = await ctx.unary(SessionServiceService.registerSession, { session_id: id });
        ctx.emit(RegisterSessionResponse, r, () =>
          r.recovery_report ? `registered ${id}; recovered from the store: ${describeRecovery(r.recovery_report)}` : `registered ${id}`,
        );
      }),
    );

  program
    .command('ensure <session>')
    .description('register if needed and attach a runtime loop with an executor (EnsureSessionWithExecutor)')
    .option('-e, --executor <name>', 'executor name (echo, scripted, or a remote executor)', 'echo')
    .action((session: string, opts: { executor: string }, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        const id = sessionArg(session);
        const r = await ctx.unary(SessionServiceService.ensureSessionWithExecutor, { session_id: id, executor: opts.executor });
        ctx.emit(EnsureSessionWithExecutorResponse, r, () => `session ${id} served by executor ${opts.executor}`);
      }),
    );

  program
    .command('accept <session> <text>')
    .description('admit a prompt (text "-" reads stdin); --wait streams until its completion')
    .option('-k, --key <key>', 'idempotency key (a retry with the same key joins the existing input)')
    .option('--steer', 'steer lane: inject at the next boundary of the current turn')
    .option('-w, --wait', 'wait for the completion and print it (result text on stdout, progress on stderr)')
    .option('--without-wake', 'admit for the next turn without waking the runtime loop (AcceptWithoutWake)')
    .option('--heartbeat <duration>', 'heartbeat period while waiting, 1s..15s (default 15s)', parseDuration)
    .action((session: string, text: string, opts: AcceptOptions, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        const id = sessionArg(session);
        const body = textArg(text);
        if (!opts.withoutWake) return acceptWithCompletion(ctx, id, body, opts);
        const r = await ctx.unary(IngressServiceService.acceptWithoutWake, { session_id: id, input: promptInput(body, opts) });
        ctx.emit(AcceptWithoutWakeResponse, r, () => `${describeAdmission(r.outcome)}; the runtime loop was not woken`);
        const inputId = admittedInputId(r.outcome);
        if (!opts.wait || inputId === null) return 0;
        const end = await watchInput(ctx, {
          request: { session_id: id, selector: { $case: 'input_id', input_id: inputId }, target: WatchStage.TERMINAL, heartbeat_interval_ms: opts.heartbeat },
          showUpdates: false,
        });
        if (end.reason !== WatchEndReason.TARGET_REACHED) {
          throw new CliFailure('ABORTED', `the wait ended (${watchEndLabel(end.reason)}) before input ${inputId} completed`, EXIT_NOT_COMPLETED);
        }
        return finishCompletion(ctx, end.outcome);
      }),
    );

  program
    .command('watch <session>')
    .description('follow one input until it reaches a stage (WatchInput): updates on stdout, heartbeats on stderr')
    .addOption(new Option('-i, --input <id>', 'the input id').conflicts('key'))
    .addOption(new Option('-k, --key <key>', 'the idempotency key (an input not submitted yet is waited for)'))
    .addOption(new Option('-s, --stage <stage>', 'stage that ends the watch').choices(Object.keys(STAGES)).default('terminal'))
    .option('--resume <token>', 'resume token of the last update received')
    .option('--heartbeat <duration>', 'heartbeat period, 1s..15s (default 15s)', parseDuration)
    .action(
      (session: string, opts: { input?: string; key?: string; stage: string; resume?: string; heartbeat?: number }, cmd: Command) =>
        runAction(cmd, async (ctx) => {
          if (opts.input === undefined && opts.key === undefined) {
            throw new CliFailure('INVALID_ARGUMENT', 'watch needs --input <id> or --key <key>', EXIT_USAGE);
          }
          const selector: WatchInputRequest['selector'] =
            opts.input !== undefined ? { $case: 'input_id', input_id: opts.input } : { $case: 'idempotency_key', idempotency_key: opts.key ?? '' };
          const end = await watchInput(ctx, {
            request: {
              session_id: sessionArg(session),
              selector,
              target: STAGES[opts.stage] ?? WatchStage.TERMINAL,
              resume_token: opts.resume,
              heartbeat_interval_ms: opts.heartbeat,
            },
            showUpdates: true,
          });
          if (!ctx.json && end.outcome) ctx.out(`outcome: ${end.outcome.kind?.$case === 'completed' ? 'completed: ' : ''}${describeCompletion(end.outcome)}`);
          if (end.reason === WatchEndReason.TARGET_REACHED) return 0;
          const resume = end.token ? ` (resume with --resume ${end.token})` : '';
          ctx.progress(`watch ended: ${watchEndLabel(end.reason)}${resume}`);
          return EXIT_NOT_COMPLETED;
        }),
    );

  program
    .command('inputs <session>')
    .description('ids of the non-terminal inputs, in admission order (ListActiveInputs)')
    .action((session: string, _opts: unknown, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        const r = await ctx.unary(SessionServiceService.listActiveInputs, { session_id: sessionArg(session) });
        ctx.emit(ListActiveInputsResponse, r, () => (r.input_ids.length > 0 ? r.input_ids.join('\n') : null));
        if (!ctx.json && r.input_ids.length === 0) ctx.progress('no active inputs');
      }),
    );

  program
    .command('input <session> <input-id>')
    .description("one input's state: phase, lane, attempts, outcome, history (InputState)")
    .action((session: string, inputId: string, _opts: unknown, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        const id = sessionArg(session);
        const r = await ctx.unary(SessionServiceService.inputState, { session_id: id, input_id: inputId });
        if (!r.state) throw new CliFailure('NOT_FOUND', `input ${inputId} is unknown to session ${id}`);
        const state = r.state;
        ctx.emit(InputStateResponse, r, () => describeInput(state));
      }),
    );

  program
    .command('state <session>')
    .description('the runtime state of a session: idle, attached, running, retired, stopped, destroyed (RuntimeState)')
    .action((session: string, _opts: unknown, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        const req: RuntimeStateRequest = { runtime_id: runtimeIdOf(session) };
        const r = await ctx.unary(ControlServiceService.runtimeState, req);
        ctx.emit(RuntimeStateResponse, r, () => runtimeStateLabel(r.state));
      }),
    );

  const control = <Res>(
    name: string,
    description: string,
    method: Method<{ runtime_id: string }, Res>,
    type: { toJSON(m: Res): unknown },
    human: (r: Res, runtimeId: string) => string,
  ): void => {
    program
      .command(`${name} <session>`)
      .description(description)
      .action((session: string, _opts: unknown, cmd: Command) =>
        runAction(cmd, async (ctx) => {
          const runtimeId = runtimeIdOf(session);
          const r = await ctx.unary(method, { runtime_id: runtimeId });
          ctx.emit(type, r, () => human(r, runtimeId));
        }),
      );
  };
  control('retire', 'no new input; the backlog drains through a live loop or is abandoned (Retire)', ControlServiceService.retire,
    RetireResponse, (r, rt) => `retired ${rt}: ${r.inputs_pending_drain} inputs left to drain, ${r.inputs_abandoned} abandoned`);
  control('reset', 'back to idle, abandoning every pending input (Reset)', ControlServiceService.reset,
    ResetResponse, (r, rt) => `reset ${rt}: ${r.inputs_abandoned} inputs abandoned`);
  control('recover', 're-normalise pending inputs and wake the loop (Recover)', ControlServiceService.recover,
    RecoverResponse, (r, rt) => `recovered ${rt}: ${describeRecovery(r)}`);
  control('recycle', 'retired → idle, keeping pending work (Recycle)', ControlServiceService.recycle,
    RecycleResponse, (r, rt) => `recycled ${rt}: ${r.inputs_transferred} inputs carried over`);
  control('destroy', 'destroy the runtime (terminal; the session stays queryable) (Destroy)', ControlServiceService.destroy,
    DestroyResponse, (r, rt) => `destroyed ${rt}: ${r.inputs_abandoned} inputs abandoned`);

  program
    .command('stop <session>')
    .description("stop the session's executor; pending waiters end \"runtime stopped\" (StopRuntimeExecutor)")
    .option('-r, --reason <text>', 'why', 'stopped with the meerkat CLI')
    .action((session: string, opts: { reason: string }, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        const id = sessionArg(session);
        const r = await ctx.unary(SessionServiceService.stopRuntimeExecutor, { session_id: id, reason: opts.reason });
        ctx.emit(StopRuntimeExecutorResponse, r, () => `stopped the executor of session ${id}`);
      }),
    );

  program
    .command('call <method> [json]')
    .description(
      'call any RPC by name with a proto3 JSON request ("-" reads stdin, "@file" a file; default {}) and print the reply as JSON; ' +
        'server streams print one JSON object per message',
    )
    .action((spec: string, json: string | undefined, _opts: unknown, cmd: Command) =>
      runAction(cmd, async (ctx) => {
        let method;
        try {
          method = findMethod(spec);
        } catch (e) {
          throw new CliFailure('INVALID_ARGUMENT', e instanceof Error ? e.message : String(e), EXIT_USAGE);
        }
        let parsed: unknown;
        const raw = json === undefined ? '{}' : jsonArg(json);
        try {
          parsed = JSON.parse(raw);
        } catch (e) {
          throw new CliFailure('INVALID_ARGUMENT', `the request is not JSON: ${e instanceof Error ? e.message : String(e)}`, EXIT_USAGE);
        }
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          throw new CliFailure('INVALID_ARGUMENT', 'the request must be a JSON object', EXIT_USAGE);
        }
        const request = method.request.fromJSON(parsed);
        if (method.kind === 'unary') {
          const reply = await ctx.unary(method.definition, request);
          ctx.out(JSON.stringify(method.response.toJSON(reply), null, ctx.json ? undefined : 2));
          return 0;
        }
        if (method.kind !== 'server-streaming') {
          throw new CliFailure('UNIMPLEMENTED', `${method.service}.${method.rpc} is ${method.kind}; the CLI cannot drive it`, EXIT_USAGE);
        }
        const call = ctx.conn.serverStream(method.definition, request, { deadline: ctx.streamDeadline() });
        const intr = onInterrupt(() => call.cancel());
        try {
          await consume(call, (m) => ctx.out(JSON.stringify(method.response.toJSON(m))));
        } catch (e) {
          if (intr.interrupted()) throw new CliFailure('CANCELLED', 'interrupted', EXIT_INTERRUPTED);
          throw e;
        } finally {
          intr.dispose();
        }
        return 0;
      }),
    );

  program
    .command('methods')
    .description('list every RPC `meerkat call` can reach')
    .action((_opts: unknown, cmd: Command) => {
      const json = cmd.optsWithGlobals<GlobalOptions>().json === true;
      const methods = allMethods().map((m) => ({ method: `${m.service}.${m.rpc}`, kind: m.kind }));
      if (json) process.stdout.write(`${JSON.stringify(methods)}\n`);
      else {
        const width = Math.max(...methods.map((m) => m.method.length));
        for (const m of methods) process.stdout.write(`${m.method.padEnd(width)}  ${m.kind}\n`);
      }
    });

  addMobCommands(program);

  return program;
}

async function main(): Promise<void> {
  // `meerkat … | head`: a closed stdout ends the command quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
  await buildProgram().parseAsync(process.argv);
  // A safety net: nothing should keep the process alive once the command is done.
  setTimeout(() => process.exit(), 2000).unref();
}

main().catch((e: unknown) => {
  reportError(e, process.argv.includes('--json'));
  process.exit(EXIT_FAILED);
});
