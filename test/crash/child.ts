/**
 * A kernel in a child process for crash tests. It reads one JSON command per
 * line on stdin and writes one JSON line per reply or event on stdout, so the
 * parent can SIGKILL it at a chosen point and start a new one on the same
 * database.
 *
 * Commands: {id, op: 'ensure'|'register'|'accept'|'rows'|'deliver'|'drain'|'inbox', session, text?, key?}
 * (`deliver` puts a peer message in the session's durable inbox and replies once it is stored;
 * `drain` starts the session's comms drain; `inbox` lists the messages still waiting).
 * Events:   {event: 'ready'}, {event: 'apply', run, inputs}, {event: 'outcome', input_id, outcome}.
 *
 * The `slow` executor logs every apply (before working) to stdout, sleeps
 * `SLOW_MS`, then completes with the inputs' text.
 */
import { createInterface } from 'node:readline';
import { createStores } from '../../src/store/index.js';
import { defaultExecutors, MeerkatMachine, type ApplyReport, type Executor, type RunAssignment } from '../../src/kernel/index.js';

const SLOW_MS = Number(process.env.SLOW_MS ?? 300);

function emit(line: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

class SlowExecutor implements Executor {
  async apply(a: RunAssignment): Promise<ApplyReport> {
    emit({ event: 'apply', run: a.run_id, inputs: a.inputs.map((i) => i.input_id) });
    await new Promise((r) => setTimeout(r, SLOW_MS));
    return { status: 'completed', result: { text: a.inputs.map((i) => i.text).join('\n') } };
  }
}

async function main(): Promise<void> {
  const stores = await createStores({ databaseUrl: process.env.DATABASE_URL || undefined, dataDir: process.env.MEERKAT_DATA_DIR || undefined });
  const kernel = new MeerkatMachine({
    store: stores.store,
    blobs: stores.blobs,
    executors: defaultExecutors().register('slow', () => new SlowExecutor()),
    retentionIntervalMs: 0,
    retryBackoffMs: 10,
  });
  const rl = createInterface({ input: process.stdin });
  emit({ event: 'ready' });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line) as { id: number; op: string; session: string; text?: string; key?: string };
    try {
      if (cmd.op === 'ensure') {
        await kernel.session.ensureSessionWithExecutor(cmd.session, 'slow');
        emit({ id: cmd.id, ok: true });
      } else if (cmd.op === 'register') {
        const report = await kernel.session.registerSession(cmd.session);
        emit({ id: cmd.id, ok: true, report });
      } else if (cmd.op === 'accept') {
        const r = await kernel.ingress.acceptWithCompletion(cmd.session, {
          body: { input_type: 'prompt', text: cmd.text ?? 'x' },
          idempotency_key: cmd.key ?? null,
        });
        const inputId = r.outcome.type === 'accepted' ? r.outcome.input_id : r.outcome.existing_id;
        emit({ id: cmd.id, ok: true, type: r.outcome.type, input_id: inputId });
        void r.handle?.outcome.then((o) => emit({ event: 'outcome', input_id: inputId, outcome: o.kind }));
      } else if (cmd.op === 'deliver') {
        const r = await kernel.deliverPeerMessage(cmd.session, {
          origin: { type: 'peer', peer_id: 'crash-peer' },
          body: { input_type: 'peer', convention: { type: 'message' }, body: cmd.text ?? 'x' },
        });
        emit({ id: cmd.id, ok: true, input_id: r.input_id, sequence: r.sequence });
      } else if (cmd.op === 'drain') {
        const started = await kernel.drain.setPeerIngressContext(cmd.session, { keep_alive: true, comms_runtime_id: 'crash-comms' });
        emit({ id: cmd.id, ok: true, started });
      } else if (cmd.op === 'inbox') {
        const messages = await stores.store.loadPeerMessages(`rt:session:${cmd.session}`, 1000);
        emit({ id: cmd.id, ok: true, messages });
      } else if (cmd.op === 'rows') {
        const rows = await stores.store.loadInputs(`rt:session:${cmd.session}`);
        emit({ id: cmd.id, ok: true, rows });
      } else {
        emit({ id: cmd.id, ok: false, error: `unknown op ${cmd.op}` });
      }
    } catch (e) {
      emit({ id: cmd.id, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  }
}

void main();
