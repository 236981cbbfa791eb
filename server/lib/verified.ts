/**
 * The guard for a team's own functions: the caller must hold a verified identity (optionally by
 * one of `methods`, optionally in the roster), or the call is refused with VERIFICATION_REQUIRED.
 * See docs/architecture.md → 在你自己的云函数里要求实名, and server/functions/profile for an example.
 */
import type { Binding, VerificationMethod } from '../../miniprogram/shared/contracts';
import { Refusal } from '../core/errors';
import type { IdentityStore } from './identity';

export interface VerifiedOptions {
  /**
   * Accept only bindings of these methods (default: a binding of any method, including one the
   * deployment has since stopped offering: it was verified when it was made).
   */
  methods?: readonly VerificationMethod[];
  /** Require the verified ID number to be in the imported roster. */
  inRoster?: boolean;
}

/** The caller's newest binding that satisfies `options`, masked; VERIFICATION_REQUIRED when none does. */
export async function requireVerified(
  identities: IdentityStore,
  openid: string,
  options: VerifiedOptions = {},
): Promise<Binding> {
  const bindings = await identities.list(openid);
  const binding = bindings.find(
    (b) => (!options.methods || options.methods.includes(b.method)) && (!options.inRoster || b.inRoster),
  );
  if (!binding) {
    throw new Refusal(
      'VERIFICATION_REQUIRED',
      options.inRoster ? '请先完成实名认证（须为本机构名单中的人员）' : undefined,
    );
  }
  return binding;
}
