/**
 * Drain group (commands.md §3.3): peer-ingress ownership and the comms drain
 * task that admits a session's peer inbox (decision 9).
 */
import type { DrainExitReason } from '../../machine/arms/drain.js';
import type { KernelCore } from '../core.js';
import { invalidField, runtimeDestroyed } from '../errors.js';
import { parseUuidV7 } from '../ids.js';
import { MAX_SHORT_STRING } from '../input.js';

export interface PeerIngressContext {
  /** true = keep a peer-ingress drain running; false = tear it down. */
  readonly keep_alive: boolean;
  /** Identity of the comms transport whose inbox the drain pumps. */
  readonly comms_runtime_id?: string | null;
  /** Set by mob provisioning to claim mob ownership of the ingress. */
  readonly mob_id?: string | null;
}

const EXIT_REASONS: readonly DrainExitReason[] = ['IdleTimeout', 'Dismissed', 'Failed', 'Aborted', 'SessionShutdown'];

export class DrainCommands {
  constructor(private readonly k: KernelCore) {}

  /** Returns true iff this call started (or rebound) a drain task. */
  async setPeerIngressContext(sessionId: string, ctx: PeerIngressContext): Promise<boolean> {
    const session = this.k.liveSession(parseUuidV7(sessionId, 'session_id'));
    const comms = ctx.comms_runtime_id ?? null;
    const mob = ctx.mob_id ?? null;
    if (comms !== null && (comms.length === 0 || comms.length > MAX_SHORT_STRING)) throw invalidField('comms_runtime_id', 'must be a non-empty identifier');
    if (mob !== null && (mob.length === 0 || mob.length > MAX_SHORT_STRING)) throw invalidField('mob_id', 'must be a non-empty identifier');
    if (mob !== null && comms === null) throw invalidField('mob_id', 'requires comms_runtime_id');
    let spawn = false;
    let rebind = false;
    await session.gate.run(async () => {
      const tx = session.begin('SetPeerIngressContext');
      tx.apply({ type: 'SetPeerIngressContext', keep_alive: ctx.keep_alive });
      if (comms !== null) {
        if (mob !== null) tx.apply({ type: 'AttachMobIngress', comms_runtime_id: comms, mob_id: mob });
        else tx.apply({ type: 'AttachSessionIngress', comms_runtime_id: comms });
      } else if (!ctx.keep_alive) {
        tx.apply({ type: 'DetachIngress' });
      }
      if (ctx.keep_alive && comms !== null) {
        const slot = session.drain;
        if (slot.phase === 'Running' && slot.commsRuntimeId !== comms) rebind = true;
        else if (slot.phase !== 'Running') {
          spawn = tx.tryApply({ type: 'SpawnDrain', mode: 'PersistentHost' }) !== null;
        }
      }
      await this.k.commit(session, tx);
    });
    if (!ctx.keep_alive) {
      await this.k.abortDrain(session, 2000);
      return false;
    }
    if (comms === null || (!spawn && !rebind)) return false;
    if (rebind) await this.k.abortDrainTask(session);
    this.k.startDrainTask(session, comms);
    return true;
  }

  /** Called when a drain task ends (also by the task itself). */
  async notifyDrainExited(sessionId: string, reason: DrainExitReason): Promise<void> {
    if (!EXIT_REASONS.includes(reason)) throw invalidField('reason', `must be one of ${EXIT_REASONS.join(', ')}`);
    const id = parseUuidV7(sessionId, 'session_id');
    const session = this.k.sessions.get(id);
    if (!session) return; // benign for a session that is already gone (HEAD behaviour)
    if (session.phase === 'Destroyed') throw runtimeDestroyed(id);
    await this.k.drainExited(session, reason);
  }
}

export class DrainLocalCommands {
  constructor(private readonly k: KernelCore) {}

  /** Stops and aborts every running comms drain. Never fails. */
  async abortAll(): Promise<void> {
    await Promise.all([...this.k.sessions.values()].map((s) => this.k.abortDrain(s, 2000)));
  }

  /** Stops (if running) and aborts the session's comms drain; the slot ends Stopped. */
  async abort(sessionId: string): Promise<void> {
    const session = this.k.session(parseUuidV7(sessionId, 'session_id'));
    await this.k.abortDrain(session, 2000);
  }

  /** Waits for the session's drain task to finish, then applies the exit safety net. */
  async wait(sessionId: string): Promise<void> {
    const session = this.k.session(parseUuidV7(sessionId, 'session_id'));
    const task = session.drain.task;
    if (!task) return;
    await task.catch(() => undefined);
    if (session.drain.phase === 'Running' && session.phase !== 'Destroyed') await this.k.drainExited(session, 'Failed');
  }
}
