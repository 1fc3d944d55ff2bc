import fc from 'fast-check';
import { LIFECYCLE_INTENTS } from '../../../sidecar/machine/index.js';
import { literalSession, pick, sessionFor, identity, tmpl, type Tmpl } from './pool.js';

const intent = pick(LIFECYCLE_INTENTS);
const simple = (type: 'Stop' | 'Resume' | 'Complete' | 'MarkCompleted' | 'Reset' | 'Shutdown' | 'Destroy' | 'AdmitDestroyCleanup' | 'AdmitDestroyStorageFinalizing' | 'RetireAll'): Tmpl =>
  tmpl(type, () => ({ type }));

/** Lifecycle inputs: the quiesce latch and the acts it guards. */
export const lifecycleArb: fc.Arbitrary<Tmpl> = fc.oneof(
  { weight: 6, arbitrary: intent.map((i) => tmpl(`Begin(${i})`, () => ({ type: 'BeginPlacedCompletionLifecycleQuiesce', intent: i }))) },
  { weight: 2, arbitrary: intent.map((i) => tmpl(`End(${i})`, () => ({ type: 'EndPlacedCompletionLifecycleQuiesce', intent: i }))) },
  { weight: 3, arbitrary: fc.constant(simple('Stop')) },
  { weight: 4, arbitrary: fc.constant(simple('Resume')) },
  { weight: 1, arbitrary: fc.constant(simple('Complete')) },
  { weight: 1, arbitrary: fc.constant(simple('MarkCompleted')) },
  { weight: 2, arbitrary: fc.constant(simple('Reset')) },
  { weight: 1, arbitrary: fc.constant(simple('Shutdown')) },
  { weight: 1, arbitrary: fc.constant(simple('Destroy')) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(identity, fc.oneof(fc.constant<'bound'>('bound'), literalSession))
      .map(([a, c]) => tmpl(`DestroyMob(${a},${c})`, (s) => ({ type: 'DestroyMob', session_id: sessionFor(s, a, c) ?? c }))),
  },
  { weight: 2, arbitrary: fc.constant(simple('AdmitDestroyCleanup')) },
  { weight: 1, arbitrary: fc.constant(simple('AdmitDestroyStorageFinalizing')) },
  { weight: 1, arbitrary: fc.constant(simple('RetireAll')) },
);
