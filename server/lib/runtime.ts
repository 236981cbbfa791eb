/**
 * The adapter layer between wx-server-sdk and the pure core: initialises the SDK once per instance,
 * reads the caller from `getWXContext()`, and logs structured lines (never PII).
 */
import cloud from 'wx-server-sdk';
import type { CallerContext, Logger } from '../core/router';

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
