/**
 * The one error model of the server. Every error a function means to answer with extends
 * `AppError`, which carries a `code` from the one error table (miniprogram/shared/errors.ts) and
 * the message the user may see. The router turns any `AppError` into its `Failure` in one place and
 * anything else into `INTERNAL`; nothing is matched by its name string or converted by hand.
 *
 * Two kinds, told apart by `logged`:
 * - a refusal (`logged: false`): the answer is the whole story (bad input, a used session, no
 *   permission); nothing is logged.
 * - a fault (`logged: true`): something on our side or WeChat's went wrong (configuration, a WeChat
 *   errcode, a timeout, a decryption); the router logs the class and `message`, which is written for
 *   operators and never holds PII, a secret or a token.
 *
 * `name` is a literal per class (as in ky's errors), so logs and type guards can tell them apart.
 */
import { ERRORS, failure, type ErrorCode, type Failure } from '../../miniprogram/shared/errors';

export interface AppErrorOptions {
  /** What the user sees (Chinese); default: the table's message for the code. */
  publicMessage?: string;
  /** For the log; default: the public message. Never PII, a secret or a token. */
  detail?: string;
  /** Log it (a fault) or not (a refusal). Default: not. */
  logged?: boolean;
  cause?: unknown;
}

export class AppError extends Error {
  override name: string = 'AppError';
  declare readonly code: ErrorCode;
  /** Chinese, safe to show: what the `Failure` says. */
  declare readonly publicMessage: string;
  declare readonly logged: boolean;

  constructor(code: ErrorCode, options: AppErrorOptions = {}) {
    const publicMessage = options.publicMessage ?? ERRORS[code];
    super(options.detail ?? publicMessage, options.cause === undefined ? undefined : { cause: options.cause });
    // Not enumerable, like `message` and `stack`: an error spread or serialised carries only what
    // its own class adds (and the generic decryption error carries nothing at all).
    Object.defineProperties(this, {
      code: { value: code },
      publicMessage: { value: publicMessage },
      logged: { value: options.logged ?? false },
    });
  }

  toFailure(): Failure {
    return failure(this.code, this.publicMessage);
  }
}

/** A deliberate answer: `throw new Refusal('FACE_SESSION_USED')`, optionally with a more specific message. */
export class Refusal extends AppError {
  override name = 'Refusal' as const;

  constructor(code: ErrorCode, publicMessage?: string) {
    super(code, { publicMessage });
  }
}

/** Cloud storage failed to do what was asked of it (a link, a deletion); logged, `detail` names how. */
export class StorageError extends AppError {
  override name = 'StorageError' as const;

  constructor(code: ErrorCode, detail: string) {
    super(code, { detail, logged: true });
  }
}

/**
 * A setting is missing or malformed. The log names the variables and what is wrong, never a value;
 * the user sees `NOT_CONFIGURED` with the variables' names (not secret, and they tell the team what
 * to set).
 */
export class ConfigError extends AppError {
  override name = 'ConfigError' as const;
  readonly variables: readonly string[];

  constructor(detail: string, variables: readonly string[]) {
    const names = variables.length > 0 ? `（${variables.join('、')}）` : '';
    super('NOT_CONFIGURED', { detail, logged: true, publicMessage: `服务尚未完成配置${names}，请联系管理员` });
    this.variables = variables;
  }
}

/** A fault of ours the user can do nothing about: an invariant broken, a store that misbehaved. */
export class InternalError extends AppError {
  override name = 'InternalError' as const;

  constructor(detail: string, cause?: unknown) {
    super('INTERNAL', { detail, logged: true, cause });
  }
}

export function isAppError(value: unknown): value is AppError {
  return value instanceof AppError;
}

/** For logs: the class and message of anything thrown (never the thrown value itself, which may hold PII). */
export function describeError(err: unknown): { error: string; detail: string } {
  if (err instanceof Error) return { error: err.name, detail: err.message };
  // The SDK rejects with plain objects too ({ errCode, errMsg }).
  const record = (typeof err === 'object' && err !== null ? err : {}) as { errMsg?: unknown; message?: unknown };
  const text = typeof record.errMsg === 'string' ? record.errMsg : record.message;
  return { error: typeof err, detail: typeof text === 'string' ? text.slice(0, 300) : '' };
}
