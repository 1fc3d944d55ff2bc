/**
 * A private, mutable working copy of a machine state that chains many reducer steps cheaply.
 *
 * {@link reduce} never touches its input state: every step copies the ~170-field root and, through
 * copy-on-write proxies, each nested map it writes. A shell transaction applies a dozen or more
 * inputs and keeps only the last state, so it pays that price for intermediate states nobody
 * reads. A `WorkingState` instead copies the root and every nested container (map or array) of
 * the base once, and then lets each arm's `update` write into its own copy directly — the same
 * arms, guards and effects as {@link reduce}, with the same result (the property tests check the
 * two agree step by step).
 *
 * Ownership rule: after each step, any container field whose object changed identity (an arm
 * assigned a new array or a map it received) is copied again, so the working copy never writes
 * into an object it did not create. Arms update containers one level deep (`d.map[id] = v`,
 * `delete d.map[id]`, `d.set = setAdd(d.set, id)`); values stored inside a container are replaced,
 * never modified in place, which is what makes one level of copying enough.
 *
 * Guards run before any write, so a rejected input leaves the working copy as it was.
 *
 * @example
 * ```ts
 * const work = new WorkingState(initialMachineState());
 * work.apply({ type: 'Initialize' });
 * console.log(work.state.lifecycle_phase); // 'Idle' — and initialMachineState() was not modified
 * ```
 */
import type { Draft } from './draft.js';
import type { MachineInput } from './inputs.js';
import { firstEnabledArm, type Step } from './reduce.js';
import { initialMachineState, type MachineState } from './state.js';

const FIELDS: readonly string[] = Object.keys(initialMachineState());
for (const f of FIELDS) if (!/^[a-z_][a-z0-9_]*$/.test(f)) throw new Error(`state field ${f} is not a plain identifier`);

type Fields = Record<string, unknown>;

function copyContainer(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  return Array.isArray(value) ? value.slice() : { ...(value as Record<string, unknown>) };
}

function shallowEqual(a: object, b: object): boolean {
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  let n = 0;
  for (const k in ra) {
    if (!Object.prototype.hasOwnProperty.call(rb, k) || ra[k] !== rb[k]) return false;
    n++;
  }
  for (const _k in rb) if (--n < 0) return false;
  return n === 0;
}

/** The base's container for a field when `own` holds the same entries (so sharing is restored), else `own`. */
function shared(own: unknown, base: unknown): unknown {
  if (own === base || own === null || typeof own !== 'object' || base === null || typeof base !== 'object') return own;
  return shallowEqual(own, base) ? base : own;
}

// Per-field code generated once from the state's field names (plain identifiers, checked above):
// straight-line property accesses on objects of one shape are what V8 runs fastest; a loop with
// computed keys over ~170 fields costs several times more per transition.
const ownCopy = new Function('c', 'b', `return {${FIELDS.map((f) => `${f}: c(b.${f})`).join(', ')}};`) as (
  copy: typeof copyContainer,
  base: Fields,
) => Fields;
const snapshot = new Function('r', `return {${FIELDS.map((f) => `${f}: r.${f}`).join(', ')}};`) as (root: Fields) => Fields;
const reownFields = new Function(
  'c',
  'r',
  's',
  FIELDS.map((f) => `if (r.${f} !== s.${f}) { r.${f} = c(r.${f}); s.${f} = r.${f}; }`).join('\n'),
) as (copy: typeof copyContainer, root: Fields, seen: Fields) => void;
const settleFields = new Function('h', 'r', 'b', FIELDS.map((f) => `r.${f} = h(r.${f}, b.${f});`).join('\n')) as (
  share: typeof shared,
  root: Fields,
  base: Fields,
) => void;

export class WorkingState {
  private readonly root: Fields;
  /** What this working copy last saw in each field: the container it owns, or the primitive value. */
  private readonly seen: Fields;

  constructor(base: MachineState) {
    this.root = ownCopy(copyContainer, base as unknown as Fields);
    this.seen = snapshot(this.root);
  }

  /** The current state (owned by this working copy: later steps change it in place). */
  get state(): MachineState {
    return this.root as unknown as MachineState;
  }

  /** One reducer step on the working copy; returns what {@link reduce} would return for the same state and input. */
  apply(input: MachineInput): Step {
    const state = this.state;
    const phase = state.lifecycle_phase;
    const found = firstEnabledArm(state, input);
    if (!found.ok) return found;
    const arm = found.arm;
    const draft = state as Draft<MachineState>;
    arm.update?.(draft, input);
    const to = arm.to === 'self' ? phase : arm.to === 'by-update' ? draft.lifecycle_phase : arm.to;
    draft.lifecycle_phase = to;
    // Copy every container an arm just put into the root, so that later steps write only into owned objects.
    reownFields(copyContainer, this.root, this.seen);
    const effects = arm.emit ? arm.emit(state, input) : [];
    return { ok: true, state, effects, transition: arm.name, from: phase, to };
  }

  /**
   * The working copy with structural sharing restored: every container whose entries equal
   * (by reference) those of the same field in `base` is replaced by `base`'s object. States
   * that share unchanged parts can then be compared field by field by reference (the kernel
   * skips rewriting a session document whose durable fields are all the same objects). The
   * working copy must not be used afterwards.
   */
  settle(base: MachineState): MachineState {
    settleFields(shared, this.root, base as unknown as Fields);
    return this.state;
  }
}
