/**
 * The input a client submits (commands.md §2.2), its validation and bounds, and
 * the facts the reducer's admission inputs need (machine.md §3.3–3.5).
 *
 * Bounds (documented in README "Limits"): a text field is at most
 * {@link MAX_TEXT_BYTES} bytes of UTF-8, an idempotency or supersession key at
 * most {@link MAX_KEY_LENGTH} characters, an opaque JSON payload at most
 * {@link MAX_PAYLOAD_BYTES} bytes.
 */
import type { AdmissionInputKind } from '../machine/arms/admission.js';
import { invalidArgument, type FieldViolation } from './errors.js';
import { newId, parseUuidV7 } from './ids.js';

export const MAX_TEXT_BYTES = 256 * 1024;
export const MAX_PAYLOAD_BYTES = 256 * 1024;
export const MAX_KEY_LENGTH = 256;
export const MAX_SHORT_STRING = 512;

export type HandlingMode = 'queue' | 'steer';
export type Durability = 'durable' | 'ephemeral' | 'derived';

export type InputOrigin =
  | { readonly type: 'operator' }
  | { readonly type: 'peer'; readonly peer_id: string; readonly runtime_id?: string | null }
  | { readonly type: 'flow'; readonly flow_id: string; readonly step_index: number }
  | { readonly type: 'system' }
  | { readonly type: 'external'; readonly source_name: string };

export type PeerConvention =
  | { readonly type: 'message' }
  | { readonly type: 'request'; readonly request_id: string; readonly intent: string }
  | { readonly type: 'response_progress'; readonly request_id: string; readonly phase: string }
  | {
      readonly type: 'response_terminal';
      readonly request_id: string;
      readonly status: 'completed' | 'failed' | 'cancelled';
    };

export type InputBody =
  | { readonly input_type: 'prompt'; readonly text: string; readonly handling_mode?: HandlingMode | null }
  | {
      readonly input_type: 'peer';
      readonly convention: PeerConvention;
      readonly body: string;
      readonly handling_mode?: HandlingMode | null;
    }
  | {
      readonly input_type: 'flow_step';
      readonly step_id: string;
      readonly instructions: string;
      readonly handling_mode?: HandlingMode | null;
    }
  | {
      readonly input_type: 'external_event';
      readonly event_type: string;
      readonly payload: string;
      readonly handling_mode?: HandlingMode | null;
    }
  | {
      readonly input_type: 'continuation';
      readonly reason: string;
      readonly handling_mode?: HandlingMode | null;
      readonly request_id?: string | null;
    }
  | { readonly input_type: 'operation'; readonly operation_id: string; readonly event: string };

/** What a client submits. `id` is minted (UUID v7) when absent. */
export interface Input {
  readonly id?: string | null;
  readonly durability?: Durability | null;
  readonly origin?: InputOrigin | null;
  readonly idempotency_key?: string | null;
  readonly supersession_key?: string | null;
  readonly correlation_id?: string | null;
  readonly body: InputBody;
}

/** An input after validation: every default filled in. */
export interface ValidatedInput {
  readonly id: string;
  readonly durability: Durability;
  readonly origin: InputOrigin;
  readonly idempotency_key: string | null;
  readonly supersession_key: string | null;
  readonly correlation_id: string | null;
  readonly body: InputBody;
}

/** The machine's admission kind (`AdmissionInputKind`, machine.md §3.1). */
export type { AdmissionInputKind };

export function admissionKindOf(body: InputBody): AdmissionInputKind {
  switch (body.input_type) {
    case 'prompt':
      return 'Prompt';
    case 'flow_step':
      return 'FlowStep';
    case 'external_event':
      return 'ExternalEvent';
    case 'continuation':
      return 'Continuation';
    case 'operation':
      return 'Operation';
    case 'peer':
      switch (body.convention.type) {
        case 'message':
          return 'PeerMessage';
        case 'request':
          return 'PeerRequest';
        case 'response_progress':
          return 'PeerResponseProgress';
        case 'response_terminal':
          return 'PeerResponseTerminal';
      }
  }
}

/** The handling-mode hint the input carries, with each variant's default (commands.md §2.2). */
export function requestedHandlingMode(body: InputBody): HandlingMode | null {
  switch (body.input_type) {
    case 'external_event':
      return body.handling_mode ?? 'queue';
    case 'continuation':
      // A continuation asks to be applied at the current turn's boundary unless told otherwise.
      return body.handling_mode ?? 'steer';
    case 'operation':
      return null;
    default:
      return body.handling_mode ?? null;
  }
}

/** The text an executor sees for this input. */
export function inputText(body: InputBody): string {
  switch (body.input_type) {
    case 'prompt':
      return body.text;
    case 'peer':
      return body.body;
    case 'flow_step':
      return body.instructions;
    case 'external_event':
      return body.payload;
    case 'continuation':
      return body.reason;
    case 'operation':
      return body.event;
  }
}

export function originKind(origin: InputOrigin): 'Operator' | 'Peer' | 'Flow' | 'System' | 'External' {
  switch (origin.type) {
    case 'operator':
      return 'Operator';
    case 'peer':
      return 'Peer';
    case 'flow':
      return 'Flow';
    case 'system':
      return 'System';
    case 'external':
      return 'External';
  }
}

const utf8Bytes = (s: string): number => Buffer.byteLength(s, 'utf8');

function checkText(v: FieldViolation[], field: string, value: unknown, opts: { allowEmpty?: boolean; max?: number } = {}): void {
  if (typeof value !== 'string') {
    v.push({ field, description: 'is required and must be a string' });
    return;
  }
  if (!opts.allowEmpty && value.trim().length === 0) v.push({ field, description: 'must not be empty' });
  const max = opts.max ?? MAX_TEXT_BYTES;
  if (utf8Bytes(value) > max) v.push({ field, description: `is ${utf8Bytes(value)} bytes; the limit is ${max}` });
}

function checkOptionalKey(v: FieldViolation[], field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string' || value.length === 0) {
    v.push({ field, description: 'must be a non-empty string when present' });
    return;
  }
  if (value.length > MAX_KEY_LENGTH) v.push({ field, description: `is ${value.length} characters; the limit is ${MAX_KEY_LENGTH}` });
}

function checkHandling(v: FieldViolation[], field: string, value: unknown): void {
  if (value === undefined || value === null) return;
  if (value !== 'queue' && value !== 'steer') v.push({ field, description: `must be "queue" or "steer", got ${JSON.stringify(value)}` });
}

/**
 * Validates the shape and bounds of an input. Structural problems are
 * `INVALID_ARGUMENT` with one field violation each; semantic admission rules
 * (durability by kind, peer handling modes, …) are the reducer's to judge.
 */
export function validateInput(raw: Input, field = 'input'): ValidatedInput {
  const v: FieldViolation[] = [];
  let id: string;
  if (raw.id === undefined || raw.id === null || raw.id === '') id = newId();
  else {
    try {
      id = parseUuidV7(raw.id, `${field}.id`);
    } catch {
      v.push({ field: `${field}.id`, description: `"${String(raw.id)}" is not a UUID v7` });
      id = '';
    }
  }
  const durability = raw.durability ?? 'durable';
  if (durability !== 'durable' && durability !== 'ephemeral' && durability !== 'derived') {
    v.push({ field: `${field}.durability`, description: 'must be durable, ephemeral or derived' });
  }
  const origin: InputOrigin = raw.origin ?? { type: 'operator' };
  switch (origin.type) {
    case 'peer':
      checkText(v, `${field}.origin.peer_id`, origin.peer_id, { max: MAX_SHORT_STRING });
      break;
    case 'flow':
      checkText(v, `${field}.origin.flow_id`, origin.flow_id, { max: MAX_SHORT_STRING });
      break;
    case 'external':
      checkText(v, `${field}.origin.source_name`, origin.source_name, { max: MAX_SHORT_STRING });
      break;
    case 'operator':
    case 'system':
      break;
    default:
      v.push({ field: `${field}.origin.type`, description: 'must be operator, peer, flow, system or external' });
  }
  checkOptionalKey(v, `${field}.idempotency_key`, raw.idempotency_key);
  checkOptionalKey(v, `${field}.supersession_key`, raw.supersession_key);
  const b = raw.body as InputBody | undefined;
  const bf = `${field}.body`;
  if (!b || typeof b !== 'object') {
    v.push({ field: bf, description: 'is required' });
  } else {
    switch (b.input_type) {
      case 'prompt':
        checkText(v, `${bf}.text`, b.text);
        checkHandling(v, `${bf}.handling_mode`, b.handling_mode);
        break;
      case 'peer': {
        checkText(v, `${bf}.body`, b.body, { allowEmpty: true });
        checkHandling(v, `${bf}.handling_mode`, b.handling_mode);
        const c = b.convention as PeerConvention | undefined;
        if (!c || typeof c !== 'object') v.push({ field: `${bf}.convention`, description: 'is required' });
        else if (c.type === 'request') {
          checkText(v, `${bf}.convention.request_id`, c.request_id, { allowEmpty: true, max: MAX_SHORT_STRING });
          checkText(v, `${bf}.convention.intent`, c.intent, { max: MAX_SHORT_STRING });
        } else if (c.type === 'response_progress' || c.type === 'response_terminal') {
          // A blank request id is an admission-level rejection (PeerResponseTerminalInvalid), not a shape error.
          if (typeof c.request_id !== 'string') v.push({ field: `${bf}.convention.request_id`, description: 'must be a string' });
          if (c.type === 'response_terminal' && !['completed', 'failed', 'cancelled'].includes(c.status)) {
            v.push({ field: `${bf}.convention.status`, description: 'must be completed, failed or cancelled' });
          }
        } else if (c.type !== 'message') {
          v.push({ field: `${bf}.convention.type`, description: 'must be message, request, response_progress or response_terminal' });
        }
        break;
      }
      case 'flow_step':
        checkText(v, `${bf}.step_id`, b.step_id, { max: MAX_SHORT_STRING });
        checkText(v, `${bf}.instructions`, b.instructions);
        checkHandling(v, `${bf}.handling_mode`, b.handling_mode);
        break;
      case 'external_event':
        checkText(v, `${bf}.event_type`, b.event_type, { max: MAX_SHORT_STRING });
        checkText(v, `${bf}.payload`, b.payload, { allowEmpty: true, max: MAX_PAYLOAD_BYTES });
        checkHandling(v, `${bf}.handling_mode`, b.handling_mode);
        break;
      case 'continuation':
        checkText(v, `${bf}.reason`, b.reason, { max: MAX_SHORT_STRING * 8 });
        checkHandling(v, `${bf}.handling_mode`, b.handling_mode);
        break;
      case 'operation':
        checkText(v, `${bf}.operation_id`, b.operation_id, { max: MAX_SHORT_STRING });
        checkText(v, `${bf}.event`, b.event, { max: MAX_PAYLOAD_BYTES });
        break;
      default:
        v.push({
          field: `${bf}.input_type`,
          description: 'must be prompt, peer, flow_step, external_event, continuation or operation',
        });
    }
  }
  if (v.length > 0) throw invalidArgument(v);
  return {
    id,
    durability,
    origin,
    idempotency_key: raw.idempotency_key ?? null,
    supersession_key: raw.supersession_key ?? null,
    correlation_id: raw.correlation_id ?? null,
    body: raw.body,
  };
}

/** The name of the body field that carries the input's content. */
export function contentField(body: InputBody): 'text' | 'body' | 'instructions' | 'payload' | 'reason' | 'event' {
  switch (body.input_type) {
    case 'prompt':
      return 'text';
    case 'peer':
      return 'body';
    case 'flow_step':
      return 'instructions';
    case 'external_event':
      return 'payload';
    case 'continuation':
      return 'reason';
    case 'operation':
      return 'event';
  }
}

/** The same body with its content field replaced. */
export function withContent(body: InputBody, content: string): InputBody {
  return { ...body, [contentField(body)]: content } as InputBody;
}
