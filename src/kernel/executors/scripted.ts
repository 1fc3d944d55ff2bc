import type { ApplyReport, Executor, RunAssignment, RunControl } from '../executor.js';

/**
 * An executor whose outcome each input's text scripts, for tests and demos.
 * Directives are `@word` or `@word(arg)` tokens at the start of the text; the
 * rest is the text echoed back.
 *
 * | directive        | effect                                                         |
 * |------------------|----------------------------------------------------------------|
 * | `@fail(N)`       | fail the first N attempts of this input, then succeed          |
 * | `@fail`          | fail every attempt                                             |
 * | `@cancel`        | the run ends cancelled                                         |
 * | `@delay(ms)`     | wait `ms` milliseconds before answering (aborted by interrupt) |
 * | `@noresult`      | complete without a result (CompletedWithoutResult)             |
 * | `@callback(tool)`| end with a pending callback to `tool`                          |
 *
 * In a batch the strongest directive wins: cancel > fail > callback > noresult.
 *
 * @example
 * `"@fail(2) hello"` fails twice, then completes with result `"hello"`.
 */
export class ScriptedExecutor implements Executor {
  async apply(assignment: RunAssignment, control: RunControl): Promise<ApplyReport> {
    const scripts = assignment.inputs.map((i) => ({ ...parseScript(i.text), attempt: i.attempt }));
    const delay = Math.max(0, ...scripts.map((s) => s.delayMs));
    if (delay > 0) await abortableSleep(delay, control.signal);
    if (control.signal.aborted || scripts.some((s) => s.cancel)) return { status: 'cancelled' };
    const failing = scripts.find((s) => s.failAttempts !== null && s.attempt <= s.failAttempts);
    if (failing) return { status: 'failed', error: `scripted failure (attempt ${failing.attempt})` };
    const callback = scripts.find((s) => s.callbackTool !== null);
    if (callback?.callbackTool) {
      return { status: 'callback_pending', tool_use_id: `call-${assignment.run_id}`, tool_name: callback.callbackTool, args: '{}' };
    }
    if (scripts.every((s) => s.noResult)) return { status: 'completed', result: null };
    return {
      status: 'completed',
      result: { text: scripts.filter((s) => !s.noResult).map((s) => s.text).join('\n') },
      message_count: scripts.length,
    };
  }
}

export interface Script {
  readonly text: string;
  /** `null` = never fail; `Infinity` = always. */
  readonly failAttempts: number | null;
  readonly cancel: boolean;
  readonly delayMs: number;
  readonly noResult: boolean;
  readonly callbackTool: string | null;
}

const DIRECTIVE = /^@(\w+)(?:\(([^)]*)\))?\s*/;

/** Parses the leading directives of an input text. */
export function parseScript(text: string): Script {
  let rest = text;
  let failAttempts: number | null = null;
  let cancel = false;
  let delayMs = 0;
  let noResult = false;
  let callbackTool: string | null = null;
  for (let m = DIRECTIVE.exec(rest); m; m = DIRECTIVE.exec(rest)) {
    const [whole, word, arg] = m;
    if (word === 'fail') failAttempts = arg === undefined ? Number.POSITIVE_INFINITY : Math.max(0, Number(arg) || 0);
    else if (word === 'cancel') cancel = true;
    else if (word === 'delay') delayMs = Math.max(0, Number(arg) || 0);
    else if (word === 'noresult') noResult = true;
    else if (word === 'callback') callbackTool = arg && arg.length > 0 ? arg : 'tool';
    else break;
    rest = rest.slice(whole.length);
  }
  return { text: rest, failAttempts, cancel, delayMs, noResult, callbackTool };
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done(): void {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
