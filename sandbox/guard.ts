/**
 * Who may drive the sandbox. It runs on a developer's machine, so a web page they visit must not
 * reach it (a cross-site request carries a foreign Origin; DNS rebinding a foreign Host), and when
 * it listens beyond loopback (SANDBOX_HOST=0.0.0.0, a phone on the LAN) only holders of the
 * per-start token may use its control surfaces: `/admin` (the TCB endpoint), `/sandbox/*` and the
 * gateway. Everything else is either signed already (`/tcloud` TC3, `/files` and `/storage/upload`
 * HMAC links, `/wechat` access tokens) or public facts (`/health`).
 */
import crypto from 'crypto';
import os from 'os';

/** The header (or `sandboxToken` query parameter, for the SDK's endpoint URL) carrying the token. */
export const TOKEN_HEADER = 'x-sandbox-token';
export const TOKEN_QUERY = 'sandboxToken';

export interface GuardPolicy {
  /** Host names (no port) a request may name in its Host header. */
  hosts: ReadonlySet<string>;
  /** Origins (scheme://host[:port]) allowed to call; a request without Origin is always allowed. */
  origins: ReadonlySet<string>;
  /** Required on guarded routes when set (listening beyond loopback). */
  token?: string;
}

export interface GuardRequest {
  host: string | undefined;
  origin: string | undefined;
  path: string;
  token: string | undefined;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '::1', '[::1]'];

/** True when `host` (SANDBOX_HOST) is reachable from this machine only. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::' || host === '[::]';
}

/** This machine's own addresses (what a phone on the LAN types), for a wildcard listener. */
export function interfaceAddresses(): string[] {
  return Object.values(os.networkInterfaces())
    .flat()
    .filter((a): a is os.NetworkInterfaceInfo => Boolean(a))
    .map((a) => (a.family === 'IPv6' ? `[${a.address.replace(/%.*$/, '')}]` : a.address));
}

/** A non-internal IPv4 address of this machine (what a phone is told), if any. */
export function lanAddress(): string | undefined {
  return Object.values(os.networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
}

/** Comma-separated values of an environment variable, trimmed, blanks dropped. */
function listOf(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean);
}

/**
 * The origin of WeChat's own mini-program frame. A mini-program's requests carry the fixed Referer
 * `https://servicewechat.com/{appid}/{version}/page-frame.html` (`devtools` as the version in
 * WeChat DevTools: https://developers.weixin.qq.com/miniprogram/dev/framework/ability/network.html);
 * whether they also carry an Origin is not documented, so this one is allowed. No web page outside
 * WeChat can send it: a browser sets Origin to the page's own.
 */
export const WECHAT_FRAME_ORIGIN = 'https://servicewechat.com';

/**
 * What a mini-program itself calls in the sandbox (miniprogram/services, admin/services): the
 * gateway, the sandbox-only confirmations and the storage upload. WeChat's frame origin reaches only
 * these (and the unguarded routes): any project opened in DevTools without domain checks sends it,
 * and it must not drive `/admin` (the whole database) or the rest of `/sandbox/*`. A path ending in
 * `/` covers what is under it.
 */
export const WECHAT_FRAME_PATHS: readonly string[] = [
  '/gateway/functions/',
  '/sandbox/face/complete',
  '/sandbox/realname/authorize',
  '/sandbox/citycheck/authorize',
  '/sandbox/identities',
  '/sandbox/storage/upload',
];

/** Whether a request from WeChat's frame origin may reach `path`. */
export function frameMayReach(path: string): boolean {
  return !isGuardedPath(path) || WECHAT_FRAME_PATHS.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p));
}

/**
 * The policy for a sandbox listening on `host`: loopback names, the configured host (and this
 * machine's addresses when it is a wildcard), SANDBOX_ALLOWED_HOSTS; origins: SANDBOX_ALLOWED_ORIGINS
 * (and WeChat's frame, on WECHAT_FRAME_PATHS: `refusal`); a fresh random token unless `host` is loopback.
 */
export function guardPolicy(
  host: string,
  env: Readonly<Record<string, string | undefined>>,
  addresses: () => string[] = interfaceAddresses,
): GuardPolicy {
  const hosts = new Set([...LOOPBACK_NAMES, host, ...listOf(env.SANDBOX_ALLOWED_HOSTS)].map((h) => h.toLowerCase()));
  if (isWildcard(host)) for (const address of addresses()) hosts.add(address.toLowerCase());
  if (host.includes(':') && !host.startsWith('[')) hosts.add(`[${host}]`);
  const origins = new Set(listOf(env.SANDBOX_ALLOWED_ORIGINS).map(normalOrigin));
  return { hosts, origins, token: isLoopback(host) ? undefined : crypto.randomBytes(24).toString('base64url') };
}

/** An origin as compared: lower case, no trailing slash. */
function normalOrigin(origin: string): string {
  return origin.replace(/\/+$/, '').toLowerCase();
}

/**
 * The host name of a Host header, without its port (`[::1]:8787` → `[::1]`, `localhost:8787` →
 * `localhost`). Anything else is kept whole, so it matches no allowed name: `[::1]evil.com`, or a
 * bare IPv6 address with something after it (`::1:8787` could be an address or one with a port).
 */
export function hostName(header: string): string {
  const value = header.trim().toLowerCase();
  const bracketed = /^(\[[^\]]+\])(?::\d*)?$/.exec(value);
  if (bracketed) return bracketed[1]!;
  if (value.startsWith('[') || value.indexOf(':') !== value.lastIndexOf(':')) return value;
  return value.replace(/:\d*$/, '');
}

/** Routes only the token holder may use when the sandbox listens beyond loopback. */
export function isGuardedPath(path: string): boolean {
  return (
    path === '/admin' || path.startsWith('/admin/') || path.startsWith('/sandbox/') || path.startsWith('/gateway/')
  );
}

function sameToken(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

/** Why a request is refused (status 403, a message naming the check), or undefined when it may go on. */
export function refusal(policy: GuardPolicy, req: GuardRequest): string | undefined {
  if (!req.host || !policy.hosts.has(hostName(req.host))) {
    return `host not allowed: the sandbox answers only to ${[...policy.hosts].join(', ')} (SANDBOX_ALLOWED_HOSTS adds names)`;
  }
  if (req.origin !== undefined && !policy.origins.has(normalOrigin(req.origin))) {
    if (normalOrigin(req.origin) !== WECHAT_FRAME_ORIGIN) {
      return 'origin not allowed: browser pages may not call the sandbox (SANDBOX_ALLOWED_ORIGINS lists exceptions)';
    }
    if (!frameMayReach(req.path)) {
      return `origin not allowed here: WeChat's frame reaches only what a mini-program calls (${WECHAT_FRAME_PATHS.join(', ')}); SANDBOX_ALLOWED_ORIGINS lists exceptions`;
    }
  }
  if (policy.token && isGuardedPath(req.path) && !(req.token && sameToken(req.token, policy.token))) {
    return 'sandbox token required: send the token npm start printed in the X-Sandbox-Token header';
  }
  return undefined;
}
