/**
 * A private, mutable working copy of a machine state that chains many reducer steps cheaply.
 *
 * {@link reduce} never touches its input state: every step copies the ~170-field root and, through
 * copy-on-write proxies, each nested map it writes. A shell transaction applies a dozen or more
 * inputs and keeps only the last state, so it pays that price for intermediate states nobody
 * reads. A `WorkingState` instead gives the arms one root object for the whole transaction: plain
 * fields are its own properties, and each container field (a map or an array) is copied from the
 * base the first time an arm reaches it (an accessor generated once per field), after which arms
 * write into that copy directly. Containers no arm touched are never copied, so a session with a
 * large backlog pays only for the per-input maps a transaction actually uses. Same arms, guards
 * and effects as {@link reduce}, same result (the property tests check the two agree step by step
 * on deep-frozen base states).
 *
 * Ownership rule: a container an arm assigns (a fresh array from `setAdd`, a map it received) is
 * copied on assignment, so the working copy never writes into an object it did not create. Arms
 * update containers one level deep (`d.map[id] = v`, `delete d.map[id]`); values stored inside a
 * container are replaced, never modified in place, which is what makes one level enough.
 *
 * Guards run before any write, so a rejected input leaves the working copy as it was.
 *
 * @example
 * ```ts
 * const work = new WorkingState(initialMachineState());
 * work.apply({ type: 'Initialize' });
 * console.log(work.settle(initialMachineState()).lifecycle_phase); // 'Idle' — the base was not modified
 * ```
 */
import type { Draft } from './draft.js';
import type { MachineInput } from './inputs.js';
import { firstEnabledArm, type Step } from './reduce.js';
import { INPUT_FACT_FIELDS, initialMachineState, type MachineState } from './state.js';

const FIELDS: readonly string[] = Object.keys(initialMachineState());
for (const f of FIELDS) if (!/^[a-z_][a-z0-9_]*$/.test(f)) throw new Error(`state field ${f} is not a plain identifier`);

type Fields = Record<string, unknown>;

/**
 * Fields that may hold a container: those whose initial value is an object or null (nullable
 * records such as the LLM identity). The others are strings, numbers and booleans.
 */
const INITIAL = initialMachineState() as unknown as Fields;
const CONTAINER_FIELDS = FIELDS.filter((f) => INITIAL[f] === null || typeof INITIAL[f] === 'object');
const PLAIN_FIELDS = FIELDS.filter((f) => !CONTAINER_FIELDS.includes(f));

/** Marks a container field not yet copied from the base. */
const UNTOUCHED = Symbol('untouched');

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

/** The settled value of a container field: the base's own object when nothing in it changed. */
function settled(own: unknown, base: unknown): unknown {
  if (own === UNTOUCHED) return base;
  if (own === base || own === null || typeof own !== 'object' || base === null || typeof base !== 'object') return own;
  return shallowEqual(own, base) ? base : own;
}

/** The working root: plain fields as own properties, container fields behind copy-on-first-access accessors. */
interface WorkingRoot extends Fields {
  readonly $base: Fields;
}

// Generated once from the state's field names (plain identifiers, checked above): monomorphic
// property accesses and prototype accessors are what V8 runs fastest.
const WorkingRootClass = new Function(
  'copy',
  'UNTOUCHED',
  `return class WorkingRoot {
    constructor(base) {
      this.$base = base;
      ${PLAIN_FIELDS.map((f) => `this.${f} = base.${f};`).join('\n      ')}
      ${CONTAINER_FIELDS.map((f) => `this.$${f} = UNTOUCHED;`).join('\n      ')}
    }
    ${CONTAINER_FIELDS.map(
      (f) =>
        `get ${f}() { let v = this.$${f}; if (v === UNTOUCHED) { v = copy(this.$base.${f}); this.$${f} = v; } return v; }\n` +
        `    set ${f}(v) { this.$${f} = copy(v); }`,
    ).join('\n    ')}
  };`,
)(copyContainer, UNTOUCHED) as new (base: Fields) => WorkingRoot;

/**
 * The plain state of a working root, unchanged containers shared with `base`. Per-input maps an
 * arm reached keep their copy without the O(entries) comparison: nothing compares them by
 * reference (they are not part of the session document), and a session with a large backlog
 * would pay for it on every transaction.
 */
const PER_INPUT: ReadonlySet<string> = new Set<string>(INPUT_FACT_FIELDS);
const settleRoot = new Function(
  'settled',
  'UNTOUCHED',
  'r',
  'b',
  `return {${FIELDS.map((f) =>
    !CONTAINER_FIELDS.includes(f)
      ? `${f}: r.${f}`
      : PER_INPUT.has(f)
        ? `${f}: r.$${f} === UNTOUCHED ? b.${f} : r.$${f}`
        : `${f}: settled(r.$${f}, b.${f})`,
  ).join(', ')}};`,
) as (share: typeof settled, untouched: symbol, root: WorkingRoot, base: Fields) => Fields;

export class WorkingState {
  private readonly root: WorkingRoot;

  constructor(base: MachineState) {
    this.root = new WorkingRootClass(base as unknown as Fields);
  }

  /**
   * The current state, as the arms see it (reads and writes go through the working root; use
   * {@link settle} for a plain object).
   */
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
    const effects = arm.emit ? arm.emit(state, input) : [];
    return { ok: true, state, effects, transition: arm.name, from: phase, to };
  }

  /**
   * The working copy as a plain state with structural sharing restored: every container no arm
   * reached, or (per-input maps aside) whose entries equal by reference those of the same field in
   * `base`, is `base`'s own object. States that share unchanged parts can then be compared field by field by
   * reference (the kernel skips rewriting a session document whose durable fields are all the
   * same objects). `base` must be the state this working copy started from.
   */
  settle(base: MachineState): MachineState {
    return settleRoot(settled, UNTOUCHED, this.root, base as unknown as Fields) as unknown as MachineState;
  }
}
