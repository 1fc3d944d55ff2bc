/**
 * Support for the CLI and buf-curl end-to-end tests: the shared harness (`./harness.ts`) runs the
 * real kernel server; these helpers run other programs (the `meerkat` CLI, `buf`) as separate
 * processes and collect their output.
 */
import { spawn } from 'node:child_process';
import { ROOT } from './harness.js';

export interface ProcessResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to completion (no shell) in the repository root, collecting its output. */
export function run(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const proc = spawn(command, args, { cwd: ROOT, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    proc.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    proc.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    proc.stdin.end(opts.input ?? '');
  });
}

/** Runs the `meerkat` CLI (`src/cli/main.ts` through tsx) against the server at `address`. */
export function meerkat(address: string, args: readonly string[], opts: { timeoutMs?: number; input?: string } = {}): Promise<ProcessResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, MEERKAT_ADDRESS: address };
  delete env.MEERKAT_TIMEOUT;
  return run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { env, ...opts });
}
