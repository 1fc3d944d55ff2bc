/**
 * `npm run bench:machine` — reducer and in-process kernel throughput.
 *
 * 1. Reducer transitions per second over the full life of an input
 *    (admission → run → commit → consume → archive, ~17 transitions), against
 *    a same-run baseline of `structuredClone` of the same state (the naive way
 *    to stage a transition on a copy).
 * 2. In-process accept→complete with the `echo` executor for 1 session and 64
 *    concurrent sessions, against a same-run baseline that answers each request
 *    with a bare async round trip (no kernel).
 *
 * Prints absolute numbers and ratios. Nothing here is asserted: performance is
 * measured, never a test threshold.
 */
import { performance } from 'node:perf_hooks';
import { initialMachineState, reduce, type MachineInput, type MachineState } from '../src/machine/index.js';
import { MeerkatMachine, newId } from '../src/kernel/index.js';

const args = new Map(
  process.argv.slice(2).map((a) => {
    const [k, v] = a.replace(/^--/, '').split('=');
    return [k ?? '', v ?? 'true'] as const;
  }),
);
const SECONDS = Number(args.get('seconds') ?? 3);

function apply(state: MachineState, input: MachineInput): MachineState {
  const step = reduce(state, input);
  if (!step.ok) throw new Error(`bench sequence rejected: ${input.type} in ${step.phase} (${step.guard})`);
  return step.state;
}

function lifeOfAnInput(state: MachineState, n: number): { state: MachineState; transitions: number } {
  const id = `in-${n}`;
  const run = `run-${n}`;
  const inputs: MachineInput[] = [
    { type: 'ResolveAdmissionValidation', input_id: id, kind: 'Prompt', origin: 'Operator', durability: 'Durable', peer_mode_valid: true, prt_struct_valid: true, prt_status: 'NotPeerTerminal' },
    { type: 'ResolveAdmissionIdempotency', input_id: id, idempotency_key: null },
    { type: 'ResolveAdmissionPlan', input_id: id, kind: 'Prompt', requested_lane: null, continuation_kind: 'Ordinary', silent_intent_match: false, existing_superseded_input_id: null, runtime_running: false, active_turn_boundary_available: false, without_wake: false },
    { type: 'QueueAccepted', input_id: id },
    { type: 'AcceptWithCompletion', input_id: id, request_immediate_processing: false, interrupt_yielding: false, wake_if_idle: true },
    { type: 'Prepare', session_id: 's-1', run_id: run },
    { type: 'StageForRun', input_id: id, run_id: run },
    { type: 'StartConversationRun', run_id: run, primitive_kind: 'ConversationTurn', admitted_content_shape: 'Conversation', vision_enabled: false, image_tool_results_enabled: false, max_extraction_retries: 0 },
    { type: 'CommitTerminalBoundarySequence', run_id: run, sequence: 1 },
    { type: 'MarkApplied', input_id: id },
    { type: 'MarkAppliedPendingConsumption', input_id: id },
    { type: 'RecordBoundarySeq', input_id: id, run_id: run },
    { type: 'RunCompleted', run_id: run },
    { type: 'Commit', input_id: id, run_id: run },
    { type: 'ConsumeInput', input_id: id },
    { type: 'ResolveRuntimeCompletionResult', run_id: run, terminal_observation: 'RunResult', finalization_observation: 'Succeeded' },
  ];
  let s = state;
  for (const i of inputs) s = apply(s, i);
  s = apply(s, {
    type: 'ArchiveTerminalInput',
    input_id: id,
    phase: 'Consumed',
    terminal_kind: 'Consumed',
    superseded_by: null,
    aggregate_id: null,
    abandon_reason: null,
    abandon_attempt_count: null,
    attempt_count: s.input_attempt_counts[id] ?? 0,
    run_id: s.input_run_associations[id] ?? null,
    boundary_sequence: s.input_boundary_sequences[id] ?? null,
    admission_sequence: s.input_admission_seq[id] ?? null,
    idempotency_key: null,
  });
  return { state: s, transitions: inputs.length + 1 };
}

function benchReducer(): { perSec: number; clonePerSec: number } {
  let s = apply(initialMachineState(), { type: 'Initialize' });
  s = apply(s, { type: 'RegisterSession', session_id: 's-1', runtime_epoch_id: 'epoch-1' });
  s = apply(s, { type: 'PrepareBindings', agent_runtime_id: 'rt:session:s-1', fence_token: 0, generation: 0, runtime_epoch_id: 'epoch-1', session_id: 's-1' });
  s = apply(s, { type: 'EnsureSessionWithExecutor', session_id: 's-1' });
  let transitions = 0;
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < SECONDS * 1000) {
    for (let i = 0; i < 100; i += 1) {
      const r = lifeOfAnInput(s, n++);
      s = r.state;
      transitions += r.transitions;
    }
  }
  const perSec = transitions / ((performance.now() - t0) / 1000);
  let clones = 0;
  const t1 = performance.now();
  while (performance.now() - t1 < SECONDS * 1000) {
    for (let i = 0; i < 100; i += 1) {
      structuredClone(s);
      clones += 1;
    }
  }
  const clonePerSec = clones / ((performance.now() - t1) / 1000);
  return { perSec, clonePerSec };
}

async function benchKernel(sessions: number, assertInvariants: boolean): Promise<number> {
  const kernel = MeerkatMachine.inMemory({ assertInvariants });
  const ids = Array.from({ length: sessions }, () => newId());
  for (const id of ids) await kernel.session.ensureSessionWithExecutor(id, 'echo');
  let completed = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    ids.map(async (id) => {
      while (performance.now() < deadline) {
        const r = await kernel.ingress.acceptWithCompletion(id, { body: { input_type: 'prompt', text: 'ping' } });
        const o = await r.handle?.outcome;
        if (o?.kind !== 'completed') throw new Error(`unexpected outcome ${JSON.stringify(o)}`);
        completed += 1;
      }
    }),
  );
  const perSec = completed / ((performance.now() - t0) / 1000);
  await kernel.close();
  return perSec;
}

async function benchBaseline(sessions: number): Promise<number> {
  let completed = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  const echo = async (text: string): Promise<string> => text;
  await Promise.all(
    Array.from({ length: sessions }, async () => {
      while (performance.now() < deadline) {
        await echo('ping');
        await new Promise<void>((r) => setImmediate(r));
        completed += 1;
      }
    }),
  );
  return completed / ((performance.now() - t0) / 1000);
}

const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 });

async function main(): Promise<void> {
  console.log(`meerkat-kernel bench:machine (${SECONDS}s per measurement, node ${process.version})\n`);
  const r = benchReducer();
  console.log('reducer (one input: admission → run → consume → archive, 17 transitions)');
  console.log(`  transitions/s                ${fmt(r.perSec)}`);
  console.log(`  baseline structuredClone/s   ${fmt(r.clonePerSec)}`);
  console.log(`  ratio reducer/clone          ${(r.perSec / r.clonePerSec).toFixed(2)}x\n`);
  console.log('in-process accept → complete, echo executor, in-memory store');
  for (const sessions of [1, 64]) {
    const base = await benchBaseline(sessions);
    const withChecks = await benchKernel(sessions, true);
    const noChecks = await benchKernel(sessions, false);
    console.log(`  ${String(sessions).padStart(2)} session(s): kernel ${fmt(withChecks)}/s (invariant checks on), ${fmt(noChecks)}/s (off)`);
    console.log(`               baseline bare async round trip ${fmt(base)}/s; ratio kernel/baseline ${(withChecks / base).toFixed(3)} (on), ${(noChecks / base).toFixed(3)} (off)`);
  }
}

void main();
