/**
 * What every service adapter gets: the kernel, the store's signal outbox, the logger and the
 * server lifecycle (shutdown bookkeeping). Built once by `createKernelServer`.
 */
import type { Logger } from 'pino';
import type { MeerkatMachine } from '../kernel/machine.js';
import type { RuntimeStore, SignalOutbox } from '../kernel/store.js';
import type { ServerLifecycle } from './lifecycle.js';

/** The store the server needs: the signal outbox (CompositionService) and `close()` for shutdown. */
export type ServerStore = SignalOutbox & Pick<RuntimeStore, 'close'>;

export interface ServerContext {
  readonly kernel: MeerkatMachine;
  readonly store: ServerStore;
  readonly logger: Logger;
  readonly lifecycle: ServerLifecycle;
}
