/**
 * The adapter layer between wx-server-sdk and the pure core: initialises the SDK once per instance,
 * reads the caller from `getWXContext()`, and logs structured lines (never PII).
 */
import cloud from 'wx-server-sdk';
import type { CallerContext, Logger } from '../core/router';
import { timeLimitOf, timeoutWarning } from '../core/timeout';
import { functionSpec } from '../manifest';

// DYNAMIC_CURRENT_ENV is a symbol the SDK accepts here, though its typings say string.
cloud.init({ env: cloud.DYNAMIC_CURRENT_ENV as unknown as string });

export { cloud };

export function callerContext(): CallerContext {
  const ctx = cloud.getWXContext();
  return {
    openid: String(ctx.OPENID ?? ''),
    appid: String(ctx.APPID ?? ''),
    env: String(ctx.ENV ?? process.env.TCB_ENV ?? process.env.SCF_NAMESPACE ?? ''),
  };
}

export function createLogger(fn: string): Logger {
  const write = (level: string, message: string, fields?: Record<string, unknown>) => {
    const line = JSON.stringify({ level, fn, message, ...fields });
    if (level === 'error') console.error(line);
    else console.log(line);
  };
  return {
    info: (message, fields) => write('info', message, fields),
    error: (message, fields) => write('error', message, fields),
  };
}

const timeoutsChecked = new Set<string>();

/**
 * The invocation's time limit (ms), if the platform gave one; the first invocation of an instance
 * also logs once when the deployed timeout is below the manifest's (see core/timeout.ts).
 */
export function deployedTimeLimit(fn: string, logger: Logger, context: unknown): number | undefined {
  const timeLimitMs = timeLimitOf(context);
  if (!timeoutsChecked.has(fn)) {
    timeoutsChecked.add(fn);
    const expected = functionSpec(fn)?.timeout;
    const warning = expected === undefined ? undefined : timeoutWarning(fn, timeLimitMs, expected);
    if (warning) logger.error(warning);
  }
  return timeLimitMs;
}
