/** Random reducer inputs from every domain, and whole command sequences (a prelude + up to 80 inputs). */
import fc from 'fast-check';
import type { MachineInput } from '../../../src/machine/index.js';
import { admissionInputArb } from './admission.js';
import { completionInputArb } from './completion.js';
import { drainInputArb } from './drain.js';
import { inputLifecycleInputArb } from './input-lifecycle.js';
import { lifecycleInputArb } from './lifecycle.js';
import { opsInputArb } from './ops.js';
import { routingInputArb } from './routing.js';
import { runInputArb } from './runs.js';
import { visibilityInputArb } from './visibility.js';

export const anyInput: fc.Arbitrary<MachineInput> = fc.oneof(
  { arbitrary: lifecycleInputArb, weight: 4 },
  { arbitrary: admissionInputArb, weight: 3 },
  { arbitrary: inputLifecycleInputArb, weight: 4 },
  { arbitrary: runInputArb, weight: 4 },
  { arbitrary: completionInputArb, weight: 2 },
  { arbitrary: opsInputArb, weight: 2 },
  { arbitrary: drainInputArb, weight: 1 },
  { arbitrary: visibilityInputArb, weight: 1 },
  { arbitrary: routingInputArb, weight: 1 },
);

/** A registered, bound session is the usual starting point; sometimes start from scratch. */
export const prelude: fc.Arbitrary<MachineInput[]> = fc.constantFrom<MachineInput[]>(
  [],
  [{ type: 'Initialize' }, { type: 'RegisterSession', session_id: 's-1', runtime_epoch_id: 'epoch-1' }],
  [
    { type: 'Initialize' },
    { type: 'RegisterSession', session_id: 's-1', runtime_epoch_id: 'epoch-1' },
    {
      type: 'PrepareBindings',
      agent_runtime_id: 'rt:session:s-1',
      fence_token: 0,
      generation: 0,
      runtime_epoch_id: 'epoch-1',
      session_id: 's-1',
    },
    { type: 'EnsureSessionWithExecutor', session_id: 's-1' },
  ],
);

export const sequence = fc.tuple(prelude, fc.array(anyInput, { minLength: 1, maxLength: 80, size: 'max' })).map(([p, xs]) => [...p, ...xs]);

