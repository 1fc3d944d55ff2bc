/**
 * Copy-on-write drafts for the reducer's `update` functions.
 *
 * An arm's update mutates a draft as if it were the state; only the objects it
 * actually writes are copied (each at most once per transition), everything
 * else is shared with the previous state. The previous state is never
 * touched, so a rejected or discarded transition leaves it byte-for-byte as it
 * was. This is the same idea as immer's `produce`, specialised for plain JSON
 * data (objects and arrays, no Map/Set, no class instances) and without
 * freezing, which keeps a transition over the ~250-field machine state cheap.
 */

interface Node {
  readonly base: object;
  copy: Record<string | symbol, unknown> | unknown[] | null;
  readonly parent: Node | null;
  readonly key: string | symbol | null;
  readonly children: Map<string | symbol, { readonly value: object; readonly proxy: object }>;
}

import { copyMachineState, initialMachineState, type MachineState } from './state.js';

const NODE = Symbol('draft-node');

function current(node: Node): Record<string | symbol, unknown> {
  return (node.copy ?? node.base) as Record<string | symbol, unknown>;
}

const ROOT_FIELDS = Object.keys(initialMachineState());

function copyRoot(base: object): Record<string | symbol, unknown> {
  // Only the kernel's MachineState (same field count and its first and last fields) takes the literal path.
  const fields = Object.keys(base);
  const isMachineState =
    fields.length === ROOT_FIELDS.length && fields[0] === ROOT_FIELDS[0] && fields[fields.length - 1] === ROOT_FIELDS[ROOT_FIELDS.length - 1];
  return isMachineState ? (copyMachineState(base as MachineState) as unknown as Record<string | symbol, unknown>) : { ...(base as Record<string, unknown>) };
}

function copyChild(base: object): Record<string | symbol, unknown> | unknown[] {
  return Array.isArray(base) ? base.slice() : { ...(base as Record<string, unknown>) };
}

function ensureCopy(node: Node): Record<string | symbol, unknown> {
  if (node.copy === null) {
    node.copy = node.parent === null ? copyRoot(node.base) : copyChild(node.base);
    if (node.parent !== null && node.key !== null) ensureCopy(node.parent)[node.key] = node.copy;
  }
  return node.copy as Record<string | symbol, unknown>;
}

function unwrap(value: unknown): unknown {
  if (value !== null && typeof value === 'object') {
    const node = (value as { [NODE]?: Node })[NODE];
    if (node) return current(node);
  }
  return value;
}

function makeProxy(node: Node): object {
  return new Proxy(node.base, {
    get(_t, prop) {
      if (prop === NODE) return node;
      const src = current(node);
      const value = src[prop];
      if (value === null || typeof value !== 'object') return value;
      const cached = node.children.get(prop);
      if (cached) {
        const childNode = (cached.proxy as { [NODE]: Node })[NODE];
        if (cached.value === value || childNode.copy === value) return cached.proxy;
      }
      const child: Node = { base: value, copy: null, parent: node, key: prop, children: new Map() };
      const proxy = makeProxy(child);
      node.children.set(prop, { value, proxy });
      return proxy;
    },
    set(_t, prop, value) {
      const copy = ensureCopy(node);
      copy[prop] = unwrap(value);
      node.children.delete(prop);
      return true;
    },
    deleteProperty(_t, prop) {
      if (!(prop in current(node))) return true;
      const copy = ensureCopy(node);
      delete copy[prop];
      node.children.delete(prop);
      return true;
    },
    has(_t, prop) {
      return prop in current(node);
    },
    ownKeys() {
      return Reflect.ownKeys(current(node));
    },
    getOwnPropertyDescriptor(_t, prop) {
      const src = current(node);
      const d = Reflect.getOwnPropertyDescriptor(src, prop);
      if (d === undefined) return undefined;
      // Report configurable descriptors so the proxy invariants hold for a target that differs from `src`.
      return { ...d, configurable: true, value: (this.get as (t: object, p: string | symbol) => unknown)(node.base, prop) };
    },
    defineProperty(_t, prop, desc) {
      ensureCopy(node)[prop] = unwrap(desc.value);
      node.children.delete(prop);
      return true;
    },
  });
}

/**
 * Runs `recipe` against a draft of `base` and returns the next state
 * (`base` itself when nothing was written).
 *
 * @example
 * ```ts
 * const next = produceNext({ a: { x: 1 }, b: [1] }, (d) => { d.a.x = 2; });
 * // next.a !== base.a, next.b === base.b
 * ```
 */
export function produceNext<T extends object>(base: T, recipe: (draft: T) => void): T {
  const root: Node = { base, copy: null, parent: null, key: null, children: new Map() };
  recipe(makeProxy(root) as T);
  return (root.copy ?? base) as T;
}

/** The mutable view of a readonly state type that an arm's `update` receives. */
export type Draft<T> = T extends readonly (infer E)[]
  ? Draft<E>[]
  : T extends object
    ? { -readonly [K in keyof T]: Draft<T[K]> }
    : T;
