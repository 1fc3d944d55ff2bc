/**
 * Small helpers for the set- and map-shaped fields of {@link MachineState}.
 * Sets are sorted, duplicate-free arrays so that equal sets are equal JSON.
 */

/** A sorted, duplicate-free copy of `items`. */
export function setOf<T extends string | number>(items: Iterable<T>): T[] {
  const unique = [...new Set(items)];
  unique.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return unique;
}

export function setHas<T extends string | number>(set: readonly T[], item: T): boolean {
  return set.includes(item);
}

export function setAdd<T extends string | number>(set: readonly T[], item: T): T[] {
  return setOf([...set, item]);
}

export function setRemove<T extends string | number>(set: readonly T[], item: T): T[] {
  return set.filter((x) => x !== item);
}

export function setEquals<T extends string | number>(a: readonly T[], b: readonly T[]): boolean {
  const sa = setOf(a);
  const sb = setOf(b);
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

export function isSubset<T extends string | number>(sub: readonly T[], sup: readonly T[]): boolean {
  return sub.every((x) => sup.includes(x));
}

/** `key ∈ record` for the id-keyed maps of the state. */
export function hasKey(record: Readonly<Record<string, unknown>>, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(record, key);
}

/** Value lookup that returns `null` (the spec's `None`) for a missing key. */
export function get<T>(record: Readonly<Record<string, T>>, key: string): T | null {
  return hasKey(record, key) ? (record[key] as T) : null;
}

/** Deep structural equality for JSON-shaped values (used by guards comparing payloads). */
export function jsonEquals(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((x, i) => jsonEquals(x, b[i]));
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const ka = Object.keys(ra);
  const kb = Object.keys(rb);
  return ka.length === kb.length && ka.every((k) => hasKey(rb, k) && jsonEquals(ra[k], rb[k]));
}
