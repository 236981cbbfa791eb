/**
 * Which identity methods a deployment offers (IDENTITY_METHODS): a method that is not offered is
 * refused (METHOD_DISABLED) before anything else happens, and face is never offered alone (the
 * 2025 rules on face recognition: where another method serves the purpose, face must not be the
 * only way). Pure: no SDK.
 */
import type { VerificationMethod } from '../../miniprogram/shared/contracts';
import { Refusal } from './errors';

/** Throws METHOD_DISABLED unless `method` is among `enabled`. */
export function requireMethod(enabled: readonly VerificationMethod[], method: VerificationMethod): void {
  if (!enabled.includes(method)) throw new Refusal('METHOD_DISABLED');
}

/** What is wrong with a list of offered methods (undefined: nothing). */
export function methodsProblem(methods: readonly string[]): string | undefined {
  if (methods.length === 0) return 'offers no method at all: list at least one besides face';
  if (methods.every((m) => m === 'face')) {
    return 'offers face alone: face recognition must not be the only way (add wxcheck, wxpay or manual)';
  }
  if (new Set(methods).size !== methods.length) return 'lists a method twice';
  return undefined;
}
