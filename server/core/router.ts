/**
 * A small action router shared by every cloud function: picks the handler for `event.action`,
 * answers `UNKNOWN_ACTION` / `INVALID_REQUEST` for malformed events, and turns any thrown error
 * into `INTERNAL` without echoing the event (it may hold names and ID numbers).
 */
import type { ActionName, EventOf, FunctionName, RequestOf, ResponseOf } from '../../miniprogram/shared/contracts';
import { ACTIONS } from '../../miniprogram/shared/contracts';
import { failure, type ErrorCode, type Failure } from '../../miniprogram/shared/errors';
import { WechatApiError } from './wechat-errors';

/** Who is calling, from the platform (never from the event body). */
export interface CallerContext {
  openid: string;
  appid: string;
  env: string;
}

export type Handlers<F extends FunctionName, C> = {
  [A in ActionName<F>]: (request: RequestOf<F, A>, context: C) => Promise<ResponseOf<F, A>>;
};

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Errors thrown deliberately by handlers or their services to answer a specific failure. */
export class CloudFailure extends Error {
  readonly failure: Failure;

  constructor(code: ErrorCode, message?: string) {
    super(code);
    this.failure = failure(code, message);
  }
}

/** A required setting (env var) is missing or malformed: the message names it, never its value. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

export function createRouter<F extends FunctionName, C extends { caller: CallerContext }>(
  name: F,
  handlers: Handlers<F, C>,
  logger: Logger,
) {
  const actions = ACTIONS[name] as readonly string[];
  return async function route(event: unknown, context: C): Promise<ResponseOf<F, ActionName<F>> | Failure> {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return failure('INVALID_REQUEST');
    const { action, ...request } = event as { action?: unknown } & Record<string, unknown>;
    if (typeof action !== 'string' || !actions.includes(action)) return failure('UNKNOWN_ACTION');
    if (!context.caller.openid) return failure('FORBIDDEN', '无法识别调用者身份');
    const handler = handlers[action as ActionName<F>] as (
      req: unknown,
      ctx: C,
    ) => Promise<ResponseOf<F, ActionName<F>>>;
    try {
      return await handler(request, context);
    } catch (err) {
      if (err instanceof CloudFailure) return err.failure;
      // Log the error class and message only: never the event, which may hold PII.
      logger.error(`${name}.${action} failed`, { error: (err as Error)?.name, detail: (err as Error)?.message });
      if (err instanceof WechatApiError) return failure(err.code);
      if (err instanceof ConfigError) return failure('NOT_CONFIGURED');
      if ((err as Error)?.name === 'HttpTimeoutError') return failure('WECHAT_BUSY');
      return failure('INTERNAL');
    }
  };
}

export type { EventOf };

/** A timer trigger's event (云函数定时触发器). Only the platform sends it: it carries no user OPENID. */
export interface TimerEvent {
  Type: 'Timer';
  TriggerName: string;
  Time?: string;
}

export function isTimerEvent(event: unknown, caller: CallerContext): event is TimerEvent {
  const e = event as Partial<TimerEvent> | null;
  return !!e && e.Type === 'Timer' && typeof e.TriggerName === 'string' && caller.openid === '';
}
