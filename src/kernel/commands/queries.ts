/**
 * HEAD queries (decision 1): input state by idempotency key, interaction
 * terminal status and run terminal status. Answered from the live session,
 * falling back to the store.
 */
import type { KernelCore } from '../core.js';
import { invalidArgument, invalidField } from '../errors.js';
import { parseUuidV7 } from '../ids.js';
import { MAX_KEY_LENGTH } from '../input.js';
import type { SessionRuntime } from '../session.js';
import type { StoredInputRow, TerminalOutcomeView } from '../store.js';

export type InteractionSelector = { readonly input_id: string } | { readonly idempotency_key: string };

export interface InteractionTerminalReport {
  readonly source: 'LiveRuntime' | 'DurableStore';
  readonly input_id: string;
  readonly phase: StoredInputRow['phase'];
  readonly terminal: TerminalOutcomeView | null;
  readonly resolving_run_id: string | null;
  readonly attempt_count: number;
  readonly idempotency_key: string | null;
  readonly updated_at: number;
}

export type RunTerminalStatus =
  | { readonly status: 'in_flight'; readonly witnesses: readonly string[] }
  | { readonly status: 'resolved'; readonly resolution: 'consumed' | 'displaced'; readonly witnesses: readonly string[] }
  | { readonly status: 'resolved'; readonly resolution: 'abandoned'; readonly reason: string; readonly witnesses: readonly string[] }
  | { readonly status: 'no_durable_witness'; readonly witnesses: readonly string[] };

export class QueryCommands {
  constructor(private readonly k: KernelCore) {}

  async inputStateByIdempotencyKey(sessionId: string, key: string): Promise<StoredInputRow | null> {
    const session = this.k.session(parseUuidV7(sessionId, 'session_id'));
    checkKey(key);
    return this.byKey(session, key);
  }

  async interactionTerminalStatus(sessionId: string, selector: InteractionSelector): Promise<InteractionTerminalReport | null> {
    const session = this.k.session(parseUuidV7(sessionId, 'session_id'));
    let row: StoredInputRow | null;
    if ('input_id' in selector && !('idempotency_key' in selector)) {
      row = await this.k.inputRow(session, parseUuidV7(selector.input_id, 'selector.input_id'));
    } else if ('idempotency_key' in selector && !('input_id' in selector)) {
      checkKey(selector.idempotency_key);
      row = await this.byKey(session, selector.idempotency_key);
    } else {
      throw invalidArgument([{ field: 'selector', description: 'give exactly one of input_id or idempotency_key' }]);
    }
    if (!row) return null;
    return {
      source: session.ledger.has(row.input_id) ? 'LiveRuntime' : 'DurableStore',
      input_id: row.input_id,
      phase: row.phase,
      terminal: row.terminal_outcome,
      resolving_run_id: row.terminal_outcome ? row.last_run_id : null,
      attempt_count: row.attempt_count,
      idempotency_key: row.idempotency_key,
      updated_at: row.updated_at,
    };
  }

  async runTerminalStatus(sessionId: string, runId: string): Promise<RunTerminalStatus> {
    const session = this.k.session(parseUuidV7(sessionId, 'session_id'));
    const run = parseUuidV7(runId, 'run_id');
    const rows = new Map<string, StoredInputRow>();
    for (const row of await this.k.store.loadInputs(session.runtimeId)) if (row.last_run_id === run) rows.set(row.input_id, row);
    for (const rec of session.ledger.values()) if (rec.row.last_run_id === run) rows.set(rec.row.input_id, rec.row);
    const witnesses = [...rows.values()].sort((a, b) => (a.admission_sequence ?? 0) - (b.admission_sequence ?? 0));
    const ids = witnesses.map((r) => r.input_id);
    if (witnesses.length === 0) return { status: 'no_durable_witness', witnesses: ids };
    if (witnesses.some((r) => r.terminal_outcome === null)) return { status: 'in_flight', witnesses: ids };
    if (witnesses.some((r) => r.terminal_outcome?.outcome_type === 'consumed')) return { status: 'resolved', resolution: 'consumed', witnesses: ids };
    const abandoned = witnesses.find((r) => r.terminal_outcome?.outcome_type === 'abandoned');
    if (abandoned?.terminal_outcome?.outcome_type === 'abandoned') {
      return { status: 'resolved', resolution: 'abandoned', reason: abandoned.terminal_outcome.reason, witnesses: ids };
    }
    return { status: 'resolved', resolution: 'displaced', witnesses: ids };
  }

  private async byKey(session: SessionRuntime, key: string): Promise<StoredInputRow | null> {
    const id = session.state.admission_idempotency_inputs[key] ?? session.archivedKeys.get(key);
    if (id !== undefined) return this.k.inputRow(session, id);
    return this.k.store.findInputByIdempotencyKey(session.runtimeId, key);
  }
}

function checkKey(key: unknown): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw invalidField('idempotency_key', `must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`);
  }
}
