/**
 * The action router every cloud function shares. For an event it: picks the action
 * (`UNKNOWN_ACTION`), requires an identified caller (`FORBIDDEN`), applies the action's access guard
 * from the contracts (e.g. `admin`), checks the request with the action's checker
 * (miniprogram/shared/requests.ts), runs the handler with the typed request, and answers
 * `{ ok: true, ...body }`. Errors are mapped here and only here: an `AppError` becomes its
 * `Failure` (logged when it is a fault), anything else `INTERNAL`, logged by class and message only,
 * never with the event (it may hold names and ID numbers).
 */
import {
  ACCESS,
  ACTIONS,
  type Access,
  type ActionName,
  type BodyOf,
  type EventOf,
  type FunctionName,
  type GuardedAccess,
  type RequestOf,
  type ResponseOf,
} from '../../miniprogram/shared/contracts';
import { failure, type Failure } from '../../miniprogram/shared/errors';
import { checkerOf } from '../../miniprogram/shared/requests';
import { describeError, InternalError, isAppError } from './errors';

/** Who is calling, from the platform (never from the event body). */
export interface CallerContext {
  openid: string;
  appid: string;
  env: string;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A handler: a typed request in, the response body out; failures are thrown as `AppError`s. */
export type Handler<F extends FunctionName, A extends ActionName<F>, C> = (
  request: RequestOf<F, A>,
  context: C,
) => Promise<BodyOf<F, A>>;

export type Handlers<F extends FunctionName, C> = { [A in ActionName<F>]: Handler<F, A, C> };

/** Lets the caller through or throws a `Refusal` (e.g. `FORBIDDEN`). */
export type Guard<C> = (context: C) => Promise<void>;

export interface RouterOptions<F extends FunctionName, C> {
  logger: Logger;
  /** One guard per access level this function's actions use besides `user`. */
  guards: { [K in GuardedAccess<F>]: Guard<C> };
  /**
   * The mini-program this environment serves (WECHAT_APPID): a call that comes from another one
   * (environments can be shared) is refused. Read when a call arrives; a missing setting is
   * NOT_CONFIGURED like any other.
   */
  appid?: () => string;
}

export function createRouter<F extends FunctionName, C extends { caller: CallerContext }>(
  name: F,
  handlers: Handlers<F, C>,
  options: RouterOptions<F, C>,
) {
  const actions = ACTIONS[name] as readonly string[];
  const access = ACCESS[name] as Readonly<Record<string, Access>>;
  const guards = options.guards as Partial<Record<Access, Guard<C>>>;
  const { logger } = options;

  async function handle(action: ActionName<F>, raw: Record<string, unknown>, context: C) {
    const expected = options.appid?.();
    if (expected !== undefined && context.caller.appid !== expected) {
      return failure('FORBIDDEN', '调用来源不正确：本服务只接受本小程序的请求');
    }
    const level = access[action] ?? 'user';
    if (level !== 'user') {
      const guard = guards[level];
      // A contract that names a level nobody guards fails closed.
      if (!guard) throw new InternalError(`no guard for access level ${level}`);
      await guard(context);
    }
    const checked = checkerOf(name, action)(raw);
    if (!checked.ok) return failure(checked.code, checked.message);
    const handler = handlers[action] as Handler<F, ActionName<F>, C>;
    const body = await handler(checked.value, context);
    return { ok: true as const, ...(body as object) };
  }

  return async function route(event: unknown, context: C): Promise<ResponseOf<F, ActionName<F>> | Failure> {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return failure('INVALID_REQUEST');
    const { action, ...raw } = event as { action?: unknown } & Record<string, unknown>;
    if (typeof action !== 'string' || !actions.includes(action)) return failure('UNKNOWN_ACTION');
    if (!context.caller.openid) return failure('FORBIDDEN', '无法识别调用者身份');
    try {
      return (await handle(action as ActionName<F>, raw, context)) as ResponseOf<F, ActionName<F>>;
    } catch (err) {
      if (isAppError(err) && !err.logged) return err.toFailure();
      logger.error(`${name}.${action} failed`, describeError(err));
      return isAppError(err) ? err.toFailure() : failure('INTERNAL');
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
