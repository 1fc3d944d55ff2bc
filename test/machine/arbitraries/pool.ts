import fc from 'fast-check';

/**
 * Small fixed pools of identifiers for property tests. Random command sequences
 * draw ids from these pools so that inputs frequently refer to the same session,
 * run, input or operation and therefore reach deep into the transition tables.
 */
export const POOL = {
  sessions: ['s-1', 's-2'],
  runtimes: ['rt:session:s-1', 'rt-2'],
  epochs: ['epoch-1', 'epoch-2'],
  runs: ['run-1', 'run-2', 'run-3'],
  inputs: ['in-1', 'in-2', 'in-3', 'in-4'],
  keys: ['key-1', 'key-2'],
  ops: ['op-1', 'op-2', 'op-3'],
  requests: ['req-1', 'req-2'],
  tools: ['tool-a', 'tool-b'],
  models: ['model-a', 'model-b'],
} as const;

export const pick = <T>(xs: readonly T[]): fc.Arbitrary<T> => fc.constantFrom(...xs);
export const optional = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(arb, { nil: null });

export const sessionId = pick(POOL.sessions);
export const runtimeId = pick(POOL.runtimes);
export const epochId = pick(POOL.epochs);
export const runId = pick(POOL.runs);
export const inputId = pick(POOL.inputs);
export const idempotencyKey = pick(POOL.keys);
export const opId = pick(POOL.ops);
export const requestId = pick(POOL.requests);
export const toolName = pick(POOL.tools);
export const modelId = pick(POOL.models);
export const smallCount = fc.integer({ min: 0, max: 4 });
