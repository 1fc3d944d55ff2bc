import fc from 'fast-check';
import type { DrainExitReason, DrainInput } from '../../../src/machine/arms/drain.js';
import type { DrainMode } from '../../../src/machine/state.js';
import { pick, sessionId } from './pool.js';

const MODES: readonly DrainMode[] = ['Timed', 'AttachedSession', 'PersistentHost'];
const REASONS: readonly DrainExitReason[] = ['IdleTimeout', 'Dismissed', 'Failed', 'Aborted', 'SessionShutdown'];

/** Comms runtime ids and mob ids used by the ingress-ownership inputs. */
export const COMMS_RUNTIMES = ['comms-1', 'comms-2'] as const;
/** Mob ids used by `AttachMobIngress`. */
export const MOBS = ['mob-1', 'mob-2'] as const;

const modeArb = fc.oneof({ weight: 3, arbitrary: fc.constant<DrainMode>('PersistentHost') }, { weight: 2, arbitrary: pick(MODES) });
const commsArb = pick(COMMS_RUNTIMES);
const mobArb = pick(MOBS);

/** Random inputs of the comms-drain / peer-ingress domain. */
export const drainInputArb: fc.Arbitrary<DrainInput> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ type: fc.constant('SpawnDrain' as const), mode: modeArb }) },
  { weight: 1, arbitrary: fc.constant({ type: 'EnsureDrainRunning' as const }) },
  { weight: 3, arbitrary: fc.constant({ type: 'StopDrain' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      type: fc.constant('NotifyDrainExited' as const),
      reason: fc.oneof({ weight: 2, arbitrary: fc.constant<DrainExitReason>('Failed') }, { weight: 3, arbitrary: pick(REASONS) }),
    }),
  },
  { weight: 1, arbitrary: fc.constant({ type: 'DrainExitedClean' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'DrainExitedRespawnable' as const }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('Abort' as const), session_id: sessionId }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('Wait' as const), session_id: sessionId }) },
  { weight: 1, arbitrary: fc.constant({ type: 'AbortAll' as const }) },
  { weight: 1, arbitrary: fc.record({ type: fc.constant('SetPeerIngressContext' as const), keep_alive: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ type: fc.constant('AttachSessionIngress' as const), comms_runtime_id: commsArb }) },
  {
    weight: 3,
    arbitrary: fc.record({ type: fc.constant('AttachMobIngress' as const), comms_runtime_id: commsArb, mob_id: mobArb }),
  },
  { weight: 2, arbitrary: fc.constant({ type: 'DetachIngress' as const }) },
);
