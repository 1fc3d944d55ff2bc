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
 * Per-input maps (`INPUT_FACT_FIELDS` that hold records) are not copied at all: an arm reaching one
 * gets an *overlay*, a proxy that reads through to the base map and keeps its own writes and
 * deletions aside, so a transaction costs O(entries it changes) however long the session's
 * backlog. {@link installInputFacts} folds the overlays into plain maps once the transaction is
 * durable (see there for why that may update the session's own maps in place).
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

// ---------------------------------------------------------------------------------------------
// Per-input overlays

/** Marks a key an overlay deleted. */
const DELETED = Symbol('deleted');

/**
 * An overlay's own state — the base map it reads through to and its own changes — which is also
 * its proxy's target (so the traps need no lookup). The target has no properties of its own;
 * everything the proxy shows comes from `base` and `writes`.
 */
class OverlayTarget {
  constructor(
    readonly base: Readonly<Record<string, unknown>>,
    readonly writes: Map<string, unknown>,
  ) {}
}

/** Overlay proxies → their targets. */
const PROXIES = new WeakMap<object, OverlayTarget>();

/** Settled states holding at least one overlay (the only ones {@link installInputFacts} has work for). */
const WITH_OVERLAYS = new WeakSet<object>();

/**
 * Maps {@link installInputFacts} created: only these are ever updated in place. A map that came
 * from anywhere else (a recovered document, the initial state, a test's frozen fixture) is copied
 * once, the first time a transaction over it is installed.
 */
const OWNED = new WeakSet<object>();

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

const overlayHandler: ProxyHandler<OverlayTarget> = {
  get(o, key) {
    if (typeof key === 'string') {
      if (o.writes.has(key)) {
        const v = o.writes.get(key);
        return v === DELETED ? undefined : v;
      }
      return o.base[key];
    }
    return Reflect.get(o.base, key);
  },
  set(o, key, value) {
    if (typeof key !== 'string') return false;
    o.writes.set(key, value);
    return true;
  },
  defineProperty(o, key, descriptor) {
    if (typeof key !== 'string' || !('value' in descriptor)) return false;
    o.writes.set(key, descriptor.value);
    return true;
  },
  deleteProperty(o, key) {
    if (typeof key !== 'string') return false;
    if (hasOwn(o.base, key)) o.writes.set(key, DELETED);
    else o.writes.delete(key);
    return true;
  },
  has(o, key) {
    if (typeof key === 'string' && o.writes.has(key)) return o.writes.get(key) !== DELETED;
    return key in o.base;
  },
  ownKeys(o) {
    const keys: string[] = [];
    for (const k of Object.keys(o.base)) if (o.writes.get(k) !== DELETED) keys.push(k);
    for (const [k, v] of o.writes) if (v !== DELETED && !hasOwn(o.base, k)) keys.push(k);
    return keys;
  },
  getOwnPropertyDescriptor(o, key) {
    let value: unknown;
    if (typeof key === 'string' && o.writes.has(key)) {
      value = o.writes.get(key);
      if (value === DELETED) return undefined;
    } else if (typeof key === 'string' && hasOwn(o.base, key)) {
      value = o.base[key];
    } else {
      return undefined;
    }
    // Always configurable: the target has no properties (a frozen base's non-configurable
    // properties must not be reported through it).
    return { value, writable: true, enumerable: true, configurable: true };
  },
};

/** Maps up to this many entries are simply copied: cheaper than an overlay's proxy. */
const COPY_UP_TO = 16;

/** Entry counts of the maps {@link installInputFacts} made (counting a large map's keys is O(entries)). */
const SIZES = new WeakMap<object, number>();

/** The map's entry count if it is at most {@link COPY_UP_TO}, otherwise -1. */
function smallSize(map: object): number {
  const known = SIZES.get(map);
  if (known !== undefined) return known <= COPY_UP_TO ? known : -1;
  let n = 0;
  for (const _k in map) if (++n > COPY_UP_TO) return -1;
  return n;
}

/**
 * What an arm gets for a per-input record field: a copy of a small map, otherwise an overlay over
 * it (an overlay over an overlay starts from the inner one's changes). Tells `root` when it made an
 * overlay.
 */
function overlayOf(base: unknown, root: { $overlaid: boolean }): unknown {
  if (base === null || typeof base !== 'object' || Array.isArray(base)) return copyContainer(base);
  const size = smallSize(base);
  // Most per-input maps of an idle session are empty: a literal is cheaper than spreading one.
  if (size === 0) return {};
  if (size > 0) return { ...(base as Record<string, unknown>) };
  const inner = PROXIES.get(base);
  const target = inner ? new OverlayTarget(inner.base, new Map(inner.writes)) : new OverlayTarget(base as Record<string, unknown>, new Map());
  const proxy = new Proxy(target, overlayHandler);
  PROXIES.set(proxy, target);
  root.$overlaid = true;
  return proxy;
}

/** Per-input fields that hold records (the one array among them is copied like any container). */
const PER_INPUT_RECORDS: readonly string[] = INPUT_FACT_FIELDS.filter((f) => !Array.isArray(INITIAL[f]));

/**
 * Makes a settled state's per-input maps plain again, once its transaction is durable and the state
 * is about to become the session's: each overlay's changes are written into its base map when
 * that map is one this function made (it then belongs to the state being replaced, which nobody
 * reads after the install), and into a fresh copy otherwise. The state object itself (a fresh one
 * from {@link WorkingState.settle}) is updated and returned.
 *
 * Precondition: no other transaction over the same base is installed — the session's mutation
 * gate guarantees it (a second one would have lost the first one's update anyway).
 *
 * @example
 * ```ts
 * const base = initialMachineState();
 * const work = new WorkingState(base);
 * work.apply({ type: 'Initialize' });
 * const next = installInputFacts(work.settle(base)); // plain maps; `base` is still unchanged
 * ```
 */
export function installInputFacts(state: MachineState): MachineState {
  if (!WITH_OVERLAYS.has(state)) return state;
  const fields = state as unknown as Record<string, unknown>;
  for (const f of PER_INPUT_RECORDS) {
    const value = fields[f];
    if (value === null || typeof value !== 'object') continue;
    const overlay = PROXIES.get(value);
    if (overlay === undefined) continue;
    let map: Record<string, unknown>;
    let size: number;
    if (OWNED.has(overlay.base)) {
      map = overlay.base as Record<string, unknown>;
      size = SIZES.get(map) ?? Object.keys(map).length;
    } else {
      map = { ...overlay.base };
      size = Object.keys(map).length;
      OWNED.add(map);
    }
    for (const [k, v] of overlay.writes) {
      const present = hasOwn(map, k);
      if (v === DELETED) {
        if (present) {
          delete map[k];
          size--;
        }
      } else {
        if (!present) size++;
        map[k] = v;
      }
    }
    SIZES.set(map, size);
    fields[f] = map;
  }
  return state;
}

/** The working root: plain fields as own properties, container fields behind copy-on-first-access accessors. */
interface WorkingRoot extends Fields {
  readonly $base: Fields;
  /** Whether an arm got an overlay (see `overlayOf`). */
  $overlaid: boolean;
}

// Generated once from the state's field names (plain identifiers, checked above): monomorphic
// property accesses and prototype accessors are what V8 runs fastest.
const WorkingRootClass = new Function(
  'copy',
  'overlay',
  'UNTOUCHED',
  `return class WorkingRoot {
    constructor(base) {
      this.$base = base;
      this.$overlaid = false;
      ${PLAIN_FIELDS.map((f) => `this.${f} = base.${f};`).join('\n      ')}
      ${CONTAINER_FIELDS.map((f) => `this.$${f} = UNTOUCHED;`).join('\n      ')}
    }
    ${CONTAINER_FIELDS.map(
      (f) =>
        `get ${f}() { let v = this.$${f}; if (v === UNTOUCHED) { v = ${PER_INPUT_RECORDS.includes(f) ? 'overlay' : 'copy'}(this.$base.${f}, this); this.$${f} = v; } return v; }\n` +
        `    set ${f}(v) { this.$${f} = copy(v); }`,
    ).join('\n    ')}
  };`,
)(copyContainer, overlayOf, UNTOUCHED) as new (base: Fields) => WorkingRoot;

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
    const state = settleRoot(settled, UNTOUCHED, this.root, base as unknown as Fields);
    if (this.root.$overlaid) WITH_OVERLAYS.add(state);
    return state as unknown as MachineState;
  }
}
