/**
 * Mob definitions (`mob.md` §3.1), the subset the sidecar hosts: role profiles, automatic wiring
 * rules and an optional orchestrator role. A definition is stored verbatim in the `mob_created`
 * event and in `mob_mobs.definition`; {@link validateDefinition} refuses a malformed one with one
 * field violation per problem.
 *
 * Sidecar addition: a profile names the kernel `executor` its member sessions run (default `echo`).
 *
 * @example
 * ```ts
 * const def = validateDefinition({
 *   id: 'team', profiles: { lead: { model: 'm1' }, worker: { model: 'm1', external_addressable: true } },
 *   wiring: { auto_wire_orchestrator: true, role_wiring: [] }, orchestrator: { profile: 'lead' },
 * });
 * ```
 */
import { createHash } from 'node:crypto';
import type { FieldViolation } from '../src/kernel/errors.js';
import type { RuntimeMode } from './machine/index.js';
import { MobError } from './errors.js';

export interface ToolConfig {
  readonly builtins: boolean;
  readonly shell: boolean;
  readonly comms: boolean;
  readonly memory: boolean;
  readonly mcp: readonly string[];
}

export interface Profile {
  readonly model: string;
  readonly executor: string;
  readonly external_addressable: boolean;
  readonly runtime_mode: RuntimeMode;
  readonly peer_description: string;
  readonly skills: readonly string[];
  readonly tools: ToolConfig;
}

export interface RoleWiring {
  readonly a: string;
  readonly b: string;
}

export interface MobDefinition {
  readonly id: string;
  readonly profiles: Readonly<Record<string, Profile>>;
  readonly wiring: { readonly auto_wire_orchestrator: boolean; readonly role_wiring: readonly RoleWiring[] };
  readonly orchestrator: { readonly profile: string } | null;
}

/** Ids of mobs, members and profiles: 1–128 characters of `[A-Za-z0-9._-]`. */
export const NAME_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
export const DEFAULT_EXECUTOR = 'echo';
const MAX_PROFILES = 256;

/** Checks an identifier against {@link NAME_PATTERN}, pushing a violation on `field`. */
export function checkName(v: FieldViolation[], field: string, value: string): void {
  if (!NAME_PATTERN.test(value)) v.push({ field, description: 'must be 1–128 characters of letters, digits, ".", "_" or "-"' });
}

/** The definition as given (proto-shaped: every field present, possibly empty). */
export interface DefinitionInput {
  readonly id: string;
  readonly profiles: Readonly<Record<string, ProfileInput>>;
  readonly wiring?: { readonly auto_wire_orchestrator: boolean; readonly role_wiring: readonly RoleWiring[] } | undefined;
  readonly orchestrator?: { readonly profile: string } | undefined;
}

export interface ProfileInput {
  readonly model: string;
  readonly executor: string;
  readonly external_addressable: boolean;
  readonly runtime_mode: RuntimeMode | null;
  readonly peer_description: string;
  readonly skills: readonly string[];
  readonly tools?: ToolConfig | undefined;
}

/** Validates and normalizes a definition; throws INVALID_ARGUMENT naming every problem. */
export function validateDefinition(input: DefinitionInput): MobDefinition {
  const v: FieldViolation[] = [];
  checkName(v, 'definition.id', input.id);
  const names = Object.keys(input.profiles).sort();
  if (names.length === 0) v.push({ field: 'definition.profiles', description: 'must name at least one profile' });
  if (names.length > MAX_PROFILES) v.push({ field: 'definition.profiles', description: `must have at most ${MAX_PROFILES} profiles` });
  const profiles: Record<string, Profile> = {};
  for (const name of names) {
    const p = input.profiles[name] as ProfileInput;
    const f = `definition.profiles[${name}]`;
    checkName(v, f, name);
    if (p.model.trim() === '') v.push({ field: `${f}.model`, description: 'is required' });
    const executor = p.executor.trim() === '' ? DEFAULT_EXECUTOR : p.executor.trim();
    if (executor.length > 128) v.push({ field: `${f}.executor`, description: 'is longer than 128 characters' });
    profiles[name] = {
      model: p.model,
      executor,
      external_addressable: p.external_addressable,
      runtime_mode: p.runtime_mode ?? 'AutonomousHost',
      peer_description: p.peer_description,
      skills: [...p.skills],
      tools: p.tools ?? { builtins: false, shell: false, comms: false, memory: false, mcp: [] },
    };
  }
  const roleWiring = input.wiring?.role_wiring ?? [];
  roleWiring.forEach((r, i) => {
    for (const side of ['a', 'b'] as const) {
      if (!(r[side] in profiles)) v.push({ field: `definition.wiring.role_wiring[${i}].${side}`, description: `names no profile of the definition ("${r[side]}")` });
    }
  });
  const orchestrator = input.orchestrator && input.orchestrator.profile !== '' ? { profile: input.orchestrator.profile } : null;
  if (orchestrator && !(orchestrator.profile in profiles)) {
    v.push({ field: 'definition.orchestrator.profile', description: `names no profile of the definition ("${orchestrator.profile}")` });
  }
  if (input.wiring?.auto_wire_orchestrator === true && orchestrator === null) {
    v.push({ field: 'definition.wiring.auto_wire_orchestrator', description: 'needs an orchestrator profile' });
  }
  if (v.length > 0) throw MobError.invalid(v, 'invalid mob definition');
  return {
    id: input.id,
    profiles,
    wiring: { auto_wire_orchestrator: input.wiring?.auto_wire_orchestrator ?? false, role_wiring: roleWiring.map((r) => ({ a: r.a, b: r.b })) },
    orchestrator,
  };
}

/** Canonical JSON (sorted keys) of a value, for digests. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** `sha256:<hex>` of the canonical JSON of `value`. */
export function digestOf(value: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;
}

/** Identities of the members a new member of `profile` is wired to automatically. */
export function autoWirePeers(def: MobDefinition, profile: string, members: Readonly<Record<string, string>>, self: string): string[] {
  const out = new Set<string>();
  const orchestrator = def.orchestrator?.profile ?? null;
  for (const [identity, p] of Object.entries(members)) {
    if (identity === self) continue;
    if (def.wiring.auto_wire_orchestrator && orchestrator !== null && (p === orchestrator || profile === orchestrator)) out.add(identity);
    for (const r of def.wiring.role_wiring) {
      if ((r.a === profile && r.b === p) || (r.b === profile && r.a === p)) out.add(identity);
    }
  }
  return [...out].sort();
}
