/**
 * `npm run start:all`: the kernel (`src/server/main.ts`) and the mob sidecar (`sidecar/main.ts`)
 * together, as two child processes of this supervisor (each keeps its own store: the kernel's
 * `MEERKAT_DATA_DIR`, the sidecar's `MEERKAT_SIDECAR_DATA_DIR`, or both on `DATABASE_URL`).
 *
 * - Both children get this process's environment. The sidecar's `MEERKAT_KERNEL_ADDR` defaults to
 *   the kernel's `MEERKAT_LISTEN` port on loopback (`0.0.0.0:50051` → `127.0.0.1:50051`).
 * - SIGTERM / SIGINT are forwarded to both (each drains gracefully; a second signal is forwarded
 *   too, which makes them exit at once). The supervisor exits 0 when both exited 0, else 1. The
 *   children run in their own process group, so a Ctrl-C in a terminal reaches them once (through
 *   this process), not twice (a second signal would make them skip the graceful shutdown).
 * - When either child exits on its own (crash, failed start-up, even with code 0), the other one
 *   is sent SIGTERM and the supervisor exits 1, so a process manager sees the failure.
 *
 * Run under tsx it starts the `.ts` entry points with the same loader flags (`process.execArgv`);
 * compiled (`node dist/sidecar/start-all.js`) it starts the compiled `.js` ones.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';

/** The loopback address of a kernel listening on `listen` (`host:port`; a wildcard host becomes 127.0.0.1). */
function kernelAddressFor(listen: string): string {
  const at = listen.lastIndexOf(':');
  const host = listen.slice(0, at).replace(/^\[|\]$/g, '');
  const port = listen.slice(at + 1);
  const local = host === '' || host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `${local}:${port}`;
}

interface Child {
  readonly name: 'kernel' | 'sidecar';
  readonly process: ChildProcess;
  readonly exited: Promise<number>;
}

function main(): void {
  const logger = pino({ level: process.env.MEERKAT_LOG_LEVEL ?? 'info', base: { service: 'meerkat-start-all', pid: process.pid } });
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  const script = (path: string): string => fileURLToPath(new URL(`${path}${ext}`, import.meta.url));
  const listen = process.env.MEERKAT_LISTEN?.trim() || '0.0.0.0:50051';
  const sidecarEnv = { ...process.env, MEERKAT_KERNEL_ADDR: process.env.MEERKAT_KERNEL_ADDR?.trim() || kernelAddressFor(listen) };

  let stopping = false;
  let unexpected = false;
  const start = (name: Child['name'], path: string, env: NodeJS.ProcessEnv): Child => {
    const child = spawn(process.execPath, [...process.execArgv, script(path)], { env, stdio: 'inherit', detached: true });
    const exited = new Promise<number>((resolve) => {
      child.once('exit', (code, signal) => {
        const status = code ?? (signal !== null ? 1 : 0);
        if (stopping) logger.info({ child: name, code, signal }, `${name} exited`);
        else logger.error({ child: name, code, signal }, `${name} exited unexpectedly: stopping the other process`);
        resolve(status);
      });
      child.once('error', (e) => {
        logger.error({ child: name, err: e }, `${name} could not be started`);
        resolve(1);
      });
    });
    logger.info({ child: name, child_pid: child.pid, script: path }, `started ${name}`);
    return { name, process: child, exited };
  };

  const children = [start('kernel', '../src/server/main', process.env), start('sidecar', './main', sidecarEnv)];
  const signalAll = (signal: NodeJS.Signals): void => {
    for (const c of children) if (c.process.exitCode === null && c.process.signalCode === null) c.process.kill(signal);
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, `${signal}: forwarding to the kernel and the sidecar`);
    stopping = true;
    signalAll(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Should this process end some other way (an uncaught error), do not leave the children behind.
  process.on('exit', () => signalAll('SIGTERM'));

  // The first child to exit without a shutdown request takes the other one down.
  for (const c of children) {
    void c.exited.then(() => {
      if (stopping) return;
      stopping = true;
      unexpected = true;
      signalAll('SIGTERM');
    });
  }
  void Promise.all(children.map((c) => c.exited)).then((codes) => {
    const code = unexpected || codes.some((c) => c !== 0) ? 1 : 0;
    logger.info({ kernel: codes[0], sidecar: codes[1], exit: code }, 'kernel and sidecar stopped');
    logger.flush();
    process.exit(code);
  });
}

main();
