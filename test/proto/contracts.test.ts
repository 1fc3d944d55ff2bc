/**
 * The gRPC contracts (proto/meerkat/kernel/v1) against the kernel's command
 * catalog: every command of `COMMANDS` is an RPC of the same name, the extra
 * streaming RPCs exist with the right shapes, nothing else is exposed, the
 * protos pass `buf lint` and src/gen is what `buf generate` makes of them.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/kernel/catalog.js';
import { CompositionServiceService } from '../../src/gen/meerkat/kernel/v1/composition.js';
import { ControlServiceService } from '../../src/gen/meerkat/kernel/v1/control.js';
import { DrainServiceService } from '../../src/gen/meerkat/kernel/v1/drain.js';
import { ExecutorServiceService } from '../../src/gen/meerkat/kernel/v1/executor.js';
import { AcceptWithCompletionResponse, WatchInputRequest, WatchStage } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { IngressServiceService } from '../../src/gen/meerkat/kernel/v1/ingress.js';
import { ModelRoutingServiceService } from '../../src/gen/meerkat/kernel/v1/model_routing.js';
import { RunServiceService } from '../../src/gen/meerkat/kernel/v1/run.js';
import { SessionServiceService } from '../../src/gen/meerkat/kernel/v1/session.js';
import { Durability, HandlingMode, Input, StoredInputState } from '../../src/gen/meerkat/kernel/v1/types.js';
import { VisibilityServiceService } from '../../src/gen/meerkat/kernel/v1/visibility.js';

interface MethodDefinition {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

const SERVICES: Readonly<Record<string, Readonly<Record<string, MethodDefinition>>>> = {
  SessionService: SessionServiceService,
  VisibilityService: VisibilityServiceService,
  DrainService: DrainServiceService,
  ControlService: ControlServiceService,
  ModelRoutingService: ModelRoutingServiceService,
  IngressService: IngressServiceService,
  RunService: RunServiceService,
  ExecutorService: ExecutorServiceService,
  CompositionService: CompositionServiceService,
};

/** The RPC layout the server layer implements (service → RPC names, in proto order). */
const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  SessionService: [
    'RegisterSession',
    'UnregisterSession',
    'EnsureSessionWithExecutor',
    'ContainsSession',
    'SessionHasExecutor',
    'SessionHasComms',
    'PrepareBindings',
    'PrepareLocalSessionBindings',
    'SetSilentIntents',
    'CancelAfterBoundary',
    'StopRuntimeExecutor',
    'CommitServiceTurnTerminalReceipt',
    'OpsLifecycleRegistry',
    'InputState',
    'ListActiveInputs',
    'ReconfigureSessionLlmIdentity',
    'InputStateByIdempotencyKey',
    'InteractionTerminalStatus',
    'RunTerminalStatus',
  ],
  VisibilityService: ['StagePersistentFilter', 'RequestDeferredTools', 'PublishCommittedVisibleSet'],
  DrainService: ['SetPeerIngressContext', 'NotifyDrainExited', 'Abort', 'AbortAll', 'Wait'],
  ControlService: [
    'Ingest',
    'PublishEvent',
    'Retire',
    'Recycle',
    'Reset',
    'Recover',
    'Destroy',
    'RuntimeState',
    'RuntimeRealtimeAttachmentStatus',
    'ResolvedSessionLlmCapabilities',
    'RuntimeRealtimeChannelStatus',
    'LoadBoundaryReceipt',
  ],
  ModelRoutingService: [
    'ConfigureModelRoutingBaseline',
    'SessionModelRoutingStatus',
    'RequestSwitchTurn',
    'AdmitModelRoutingAssistantTurn',
    'BeginImageOperation',
    'ActivateImageOperationOverride',
    'CompleteImageOperation',
    'RestoreImageOperationOverride',
  ],
  IngressService: ['AcceptWithCompletion', 'AcceptWithoutWake', 'WatchInput'],
  RunService: ['Prepare', 'Commit', 'Fail'],
  ExecutorService: ['Attach'],
  CompositionService: ['StreamSignals', 'AcknowledgeSignals', 'DeliverRoutedInput'],
};

/** RPCs that are not seed commands (decisions 5, 6, 10; DeliverRoutedInput: mob.md §1 routed input). */
const EXTRA_RPCS = ['WatchInput', 'Attach', 'StreamSignals', 'AcknowledgeSignals', 'DeliverRoutedInput'] as const;

/** Streaming shape of every non-unary RPC: [requestStream, responseStream]. */
const STREAMING: Readonly<Record<string, readonly [boolean, boolean]>> = {
  AcceptWithCompletion: [false, true],
  WatchInput: [false, true],
  Attach: [true, true],
  StreamSignals: [false, true],
};

const PACKAGE = 'meerkat.kernel.v1';

/** Every generated RPC: name (last path segment), its service and its method definition. */
function generatedRpcs(): { service: string; rpc: string; def: MethodDefinition }[] {
  const out: { service: string; rpc: string; def: MethodDefinition }[] = [];
  for (const [service, methods] of Object.entries(SERVICES)) {
    for (const def of Object.values(methods)) {
      const m = /^\/([\w.]+)\.(\w+)\/(\w+)$/.exec(def.path);
      if (!m) throw new Error(`unexpected method path ${def.path}`);
      expect(m[1]).toBe(PACKAGE);
      expect(m[2]).toBe(service);
      out.push({ service, rpc: m[3] as string, def });
    }
  }
  return out;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUF = join(ROOT, 'node_modules', '.bin', process.platform === 'win32' ? 'buf.cmd' : 'buf');

/** Why the buf binary cannot run here, or null when it can. */
function bufUnavailable(): string | null {
  const r = spawnSync(BUF, ['--version'], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
  if (r.error) return r.error.message;
  if (r.status !== 0) return `exit ${r.status}: ${r.stderr.trim()}`;
  return null;
}
const bufProblem = bufUnavailable();
if (bufProblem !== null) {
  console.warn(`test/proto: skipping the buf checks, the buf binary cannot run (${bufProblem}); run npm ci`);
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listFiles(p));
    else out.push(p);
  }
  return out;
}

describe('gRPC contracts', () => {
  it('every catalog command is an RPC of the same name', () => {
    const rpcs = new Set(generatedRpcs().map((r) => r.rpc));
    const missing = COMMANDS.map((c) => c.name).filter((name) => !rpcs.has(name));
    expect(missing).toEqual([]);
  });

  it('has the extra RPCs: WatchInput, Attach, StreamSignals, AcknowledgeSignals, DeliverRoutedInput', () => {
    const rpcs = new Set(generatedRpcs().map((r) => r.rpc));
    for (const name of EXTRA_RPCS) expect(rpcs.has(name), name).toBe(true);
  });

  it('exposes exactly the commands and the extras, each once', () => {
    const names = generatedRpcs().map((r) => r.rpc);
    expect(new Set(names).size).toBe(names.length);
    const expected = [...COMMANDS.map((c) => c.name), ...EXTRA_RPCS].sort();
    expect([...names].sort()).toEqual(expected);
  });

  it('groups the RPCs by service as documented', () => {
    const byService: Record<string, string[]> = {};
    for (const r of generatedRpcs()) (byService[r.service] ??= []).push(r.rpc);
    expect(byService).toEqual(EXPECTED);
  });

  it('streams where decision 6 and 10 say so, and is unary elsewhere', () => {
    for (const { rpc, def } of generatedRpcs()) {
      const [req, res] = STREAMING[rpc] ?? [false, false];
      expect([def.requestStream, def.responseStream], rpc).toEqual([req, res]);
    }
  });

  it('generated messages round-trip (oneof unions, optionals, int64 as number)', () => {
    const input = Input.fromPartial({
      idempotency_key: 'greeting-1',
      durability: Durability.DURABLE,
      body: { input_type: { $case: 'prompt', prompt: { text: 'hello', handling_mode: HandlingMode.STEER } } },
    });
    expect(Input.decode(Input.encode(input).finish())).toEqual(input);

    const completion = AcceptWithCompletionResponse.fromPartial({
      event: {
        $case: 'completion',
        completion: {
          input_id: '0190f3a8-0000-7000-8000-000000000001',
          outcome: {
            kind: {
              $case: 'abandoned',
              abandoned: { reason: { kind: { $case: 'max_attempts_exhausted', max_attempts_exhausted: { attempts: 3 } } } },
            },
          },
        },
      },
    });
    const decoded = AcceptWithCompletionResponse.decode(AcceptWithCompletionResponse.encode(completion).finish());
    expect(decoded).toEqual(completion);
    expect(decoded.event?.$case).toBe('completion');

    const row = StoredInputState.fromPartial({ input_id: 'x', created_at: 1_732_000_000_123, admission_sequence: 1_000_000_000 });
    const back = StoredInputState.decode(StoredInputState.encode(row).finish());
    expect(back.created_at).toBe(1_732_000_000_123);
    expect(typeof back.created_at).toBe('number');
    expect(back.admission_sequence).toBe(1_000_000_000);
    expect(back.idempotency_key).toBeUndefined();

    const watch = WatchInputRequest.fromPartial({ session_id: 's', selector: { $case: 'idempotency_key', idempotency_key: 'k' } });
    expect(watch.target).toBe(WatchStage.UNSPECIFIED);
  });

  it.skipIf(bufProblem !== null)('passes buf lint', () => {
    const r = spawnSync(BUF, ['lint'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });

  it.skipIf(bufProblem !== null)('src/gen is what buf generate makes of proto/ (npm run gen:proto)', () => {
    const out = mkdtempSync(join(tmpdir(), 'meerkat-gen-'));
    try {
      execFileSync(BUF, ['generate', '--output', out], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      // gen:proto also writes the compiled descriptor set that server reflection serves.
      execFileSync(BUF, ['build', '--output', join(out, 'src', 'gen', 'descriptor.binpb')], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      const fresh = join(out, 'src', 'gen');
      const committed = join(ROOT, 'src', 'gen');
      const rel = (base: string) => listFiles(base).map((p) => relative(base, p)).sort();
      expect(rel(committed)).toEqual(rel(fresh));
      for (const f of rel(fresh)) {
        expect(readFileSync(join(committed, f)).equals(readFileSync(join(fresh, f))), `src/gen/${f} is stale: run npm run gen:proto`).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
