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
  OPERATOR_ACTIONS,
  type Access,
  type ActionName,
  type BodyOf,
  type EventOf,
  type FunctionName,
  type GuardedAccess,
  type OperatorProof,
  type RequestOf,
  type ResponseOf,
  type VerificationMethod,
} from '../../miniprogram/shared/contracts';
import { failure, type Failure } from '../../miniprogram/shared/errors';
import { checkerOf, checkOperatorProof } from '../../miniprogram/shared/requests';
import { describeError, InternalError, isAppError, Refusal } from './errors';
import { operatorIdentity } from './operator';

/** Who is calling, from the platform (never from the event body). */
export interface CallerContext {
  openid: string;
  appid: string;
  env: string;
  /**
   * Set on an operator call (an `operator` field in the event; see ./operator.ts): the operator's
   * label ('' when the field was unreadable). Once verified, `openid` is the acting identity
   * `operator:<id>`, hashed like an admin's openid in the records.
   */
  operator?: string;
}

export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/**
 * What a handler tells the audit trail about the call, beyond its outcome: whom it was about (an ID
 * blind index, as soon as it is known, so a failure later still names the subject) and a count.
 */
export interface AuditNote {
  /** One ID blind index, or several (a withdrawal of bindings of different people's documents). */
  subject?: string | readonly string[];
  /**
   * The attempt is not over (WeChat: the user has not finished yet) and the caller may ask again:
   * nothing is recorded now; the call that ends it is.
   */
  unfinished?: boolean;
  count?: number;
  /** The method the call concerned, when the action's own spec cannot say (a withdrawal). */
  method?: VerificationMethod;
}

/** An audited call, as the router hands it to the function's recorder. */
export interface AuditedCall<F extends FunctionName, C> {
  action: ActionName<F>;
  /** 'ok' or the error code answered. */
  outcome: string;
  note: AuditNote;
  context: C;
}

/** A handler: a typed request in, the response body out; failures are thrown as `AppError`s. */
export type Handler<F extends FunctionName, A extends ActionName<F>, C> = (
  request: RequestOf<F, A>,
  context: C,
  note: AuditNote,
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
  /**
   * The audit trail: every call of `actions` (refused, failed or answered) is recorded once, after
   * its outcome is known. `required`: a call whose entry cannot be written answers INTERNAL instead
   * of its result (admin views: nothing is seen unaudited); otherwise the failure is logged.
   */
  audit?: {
    actions: readonly ActionName<F>[];
    required?: boolean;
    record(call: AuditedCall<F, C>): Promise<void>;
  };
  /**
   * Operator calls (contracts.ts OPERATOR_ACTIONS): checks a call's proof, answers the acting
   * identity or throws the refusal. `env`: the environment the platform says this function runs in
   * (CallerContext.env), which the proof must have been made for. Without it, this function accepts none.
   */
  operator?: (
    proof: OperatorProof,
    action: ActionName<F>,
    payload: Readonly<Record<string, unknown>>,
    env: string,
  ) => Promise<string>;
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

  async function handle(
    action: ActionName<F>,
    raw: Record<string, unknown>,
    context: C,
    note: AuditNote,
    operator = false,
  ) {
    // An operator call comes from no mini-program (the server SDK): its key is what authenticates it.
    const expected = operator ? undefined : options.appid?.();
    if (expected !== undefined && context.caller.appid !== expected) {
      return failure('FORBIDDEN', '调用来源不正确：本服务只接受本小程序的请求');
    }
    const level = access[action] ?? 'user';
    if (operator) {
      // A verified operator acts as an admin, on admin actions only (OPERATOR_ACTIONS).
      if (level !== 'admin') throw new InternalError(`operator action ${action} is not an admin action`);
    } else if (level !== 'user') {
      const guard = guards[level];
      // A contract that names a level nobody guards fails closed.
      if (!guard) throw new InternalError(`no guard for access level ${level}`);
      await guard(context);
    }
    const checked = checkerOf(name, action)(raw);
    if (!checked.ok) return failure(checked.code, checked.message);
    const handler = handlers[action] as Handler<F, ActionName<F>, C>;
    const body = await handler(checked.value, context, note);
    return { ok: true as const, ...(body as object) };
  }

  return async function route(event: unknown, context: C): Promise<ResponseOf<F, ActionName<F>> | Failure> {
    if (typeof event !== 'object' || event === null || Array.isArray(event)) return failure('INVALID_REQUEST');
    const { action, operator, ...raw } = event as { action?: unknown; operator?: unknown } & Record<string, unknown>;
    if (typeof action !== 'string' || !actions.includes(action)) return failure('UNKNOWN_ACTION');
    if (operator !== undefined) return operatorCall(action as ActionName<F>, operator, raw, context);
    if (!context.caller.openid) return failure('FORBIDDEN', '无法识别调用者身份');
    const note: AuditNote = {};
    let answer: ResponseOf<F, ActionName<F>> | Failure;
    try {
      answer = (await handle(action as ActionName<F>, raw, context, note)) as ResponseOf<F, ActionName<F>>;
    } catch (err) {
      answer = answerOf(action, err);
    }
    return audited(action as ActionName<F>, answer, note, context);
  };

  function answerOf(action: string, err: unknown): Failure {
    if (isAppError(err) && !err.logged) return err.toFailure();
    logger.error(`${name}.${action} failed`, describeError(err));
    return isAppError(err) ? err.toFailure() : failure('INTERNAL');
  }

  /**
   * A call carrying an `operator` field: never together with an OPENID, only on OPERATOR_ACTIONS,
   * only when the function's check lets it in; then it runs as an admin under the acting identity.
   * Refusals are audited (under the claimed identity) and logged, never with the proof. A mixed call
   * is the user's own: audited as theirs, counted against their refusals, not the operators' (one
   * shared count a user could otherwise fill, leaving forged operator calls unrecorded).
   */
  async function operatorCall(
    action: ActionName<F>,
    operator: unknown,
    raw: Record<string, unknown>,
    context: C,
  ): Promise<ResponseOf<F, ActionName<F>> | Failure> {
    const note: AuditNote = {};
    const checked = checkOperatorProof(operator);
    const claimed = checked.ok ? checked.value.id : '';
    let acting: C = context.caller.openid
      ? context
      : { ...context, caller: { ...context.caller, openid: claimed && operatorIdentity(claimed), operator: claimed } };
    let answer: ResponseOf<F, ActionName<F>> | Failure;
    try {
      if (context.caller.openid) throw new Refusal('OPERATOR_MIXED');
      if (!checked.ok) throw new Refusal(checked.code, checked.message);
      const allowed = (OPERATOR_ACTIONS[name] ?? []) as readonly string[];
      if (!options.operator || !allowed.includes(action)) throw new Refusal('OPERATOR_NOT_ALLOWED');
      // What is signed is the checked request, what the handler runs on: fields its contract does not
      // name (the `userInfo` the platform adds to every event) are neither signed nor used.
      const request = checkerOf(name, action)(raw);
      if (!request.ok) throw new Refusal(request.code, request.message);
      const identity = await options.operator(
        checked.value,
        action,
        request.value as Readonly<Record<string, unknown>>,
        context.caller.env,
      );
      acting = { ...context, caller: { ...context.caller, openid: identity, operator: claimed } };
      answer = (await handle(action, raw, acting, note, true)) as ResponseOf<F, ActionName<F>>;
    } catch (err) {
      answer = answerOf(action, err);
    }
    if (!answer.ok) logger.info(`${name}.${action}: operator call refused`, { code: answer.code, operator: claimed });
    return audited(action, answer, note, acting);
  }

  /** Records the call when its action is audited; a required entry that cannot be written withholds the answer. */
  async function audited<R extends { ok: true } | Failure>(
    action: ActionName<F>,
    answer: R,
    note: AuditNote,
    context: C,
  ): Promise<R | Failure> {
    const audit = options.audit;
    if (!audit || !(audit.actions as readonly string[]).includes(action)) return answer;
    try {
      await audit.record({ action, outcome: answer.ok ? 'ok' : answer.code, note, context });
      return answer;
    } catch (err) {
      logger.error(`${name}.${action}: audit entry not recorded`, describeError(err));
      if (!audit.required) return answer;
      // The entry needs the PII keys: when they are not configured, say so (the answer stays withheld).
      return isAppError(err) && err.code === 'NOT_CONFIGURED' ? err.toFailure() : failure('INTERNAL');
    }
  }
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
