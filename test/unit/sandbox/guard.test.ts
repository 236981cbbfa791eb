/** Who may drive the sandbox, and which cloud paths it may store: the pure checks. */
import fs from 'fs';
import path from 'path';
import { frameMayReach, guardPolicy, hostName, isGuardedPath, isLoopback, refusal } from '../../../sandbox/guard';
import { sameSandbox } from '../../../sandbox/session';
import { fileUnder, safeCloudPath } from '../../../sandbox/storage';

const ROOT = path.resolve(__dirname, '../../..');
const lan = () => ['192.168.1.20', '[fe80::1]', '127.0.0.1'];
const ok = { host: '127.0.0.1:8787', origin: undefined, path: '/gateway/functions/ping', token: undefined };

describe('Host and Origin', () => {
  const policy = guardPolicy('127.0.0.1', {}, lan);

  it('answers loopback names with any port, and no token is needed on loopback', () => {
    expect(policy.token).toBeUndefined();
    for (const host of ['127.0.0.1:8787', 'localhost:1', 'LOCALHOST', '[::1]:8787', '127.0.0.1']) {
      expect(refusal(policy, { ...ok, host })).toBeUndefined();
    }
  });

  it('refuses a foreign or missing Host (DNS rebinding names the attacker’s domain)', () => {
    for (const host of [
      'evil.example:8787',
      'evil.example',
      '192.168.1.20:8787',
      undefined,
      '127.0.0.1.evil.example',
    ]) {
      expect(refusal(policy, { ...ok, host })).toMatch(/^host not allowed/);
    }
  });

  it('refuses any Origin not allow-listed (a web page’s cross-site request), allows none', () => {
    expect(refusal(policy, { ...ok, origin: 'https://evil.example' })).toMatch(/^origin not allowed/);
    expect(refusal(policy, { ...ok, origin: 'http://127.0.0.1:8787' })).toMatch(/^origin not allowed/);
    expect(refusal(policy, { ...ok, origin: 'null' })).toMatch(/^origin not allowed/);
    const allowing = guardPolicy('127.0.0.1', { SANDBOX_ALLOWED_ORIGINS: 'https://tool.example/, http://x:1' }, lan);
    expect(refusal(allowing, { ...ok, origin: 'https://tool.example' })).toBeUndefined();
    expect(refusal(allowing, { ...ok, origin: 'http://x:1' })).toBeUndefined();
    expect(refusal(allowing, { ...ok, origin: 'https://other.example' })).toMatch(/^origin not allowed/);
  });

  it('allows WeChat’s own frame origin (DevTools and phones), and only that one of its kind', () => {
    expect(refusal(policy, { ...ok, origin: 'https://servicewechat.com' })).toBeUndefined();
    expect(refusal(policy, { ...ok, origin: 'https://servicewechat.com/' })).toBeUndefined();
    expect(refusal(policy, { ...ok, origin: 'http://servicewechat.com' })).toMatch(/^origin not allowed/);
    expect(refusal(policy, { ...ok, origin: 'https://servicewechat.com.evil.example' })).toMatch(/^origin not allowed/);
    expect(refusal(policy, { ...ok, origin: 'https://evil.servicewechat.com' })).toMatch(/^origin not allowed/);
  });

  it('WeChat’s frame origin reaches only what a mini-program calls: never /admin or the rest of /sandbox/*', () => {
    const frame = { ...ok, origin: 'https://servicewechat.com' };
    for (const p of ['/admin', '/admin/x', '/sandbox/db/faults', '/sandbox/clock', '/sandbox/client/database']) {
      expect(refusal(policy, { ...frame, path: p })).toMatch(/^origin not allowed here/);
    }
    for (const p of ['/gateway/functions/roster', '/sandbox/face/complete', '/sandbox/storage/upload', '/health']) {
      expect(refusal(policy, { ...frame, path: p })).toBeUndefined();
    }
    // Listed in SANDBOX_ALLOWED_ORIGINS, it reaches everything, as any listed origin does.
    const listed = guardPolicy('127.0.0.1', { SANDBOX_ALLOWED_ORIGINS: 'https://servicewechat.com' }, lan);
    expect(refusal(listed, { ...frame, path: '/admin' })).toBeUndefined();
  });

  it('every sandbox route the mini-program’s sources call is one WeChat’s frame origin may reach', () => {
    const sources = fs
      .readdirSync(path.join(ROOT, 'miniprogram'), { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('.ts') && !f.includes('miniprogram_npm'))
      .map((f) => fs.readFileSync(path.join(ROOT, 'miniprogram', f), 'utf8'))
      .join('\n');
    const routes = [
      ...new Set([...sources.matchAll(/['`}](\/(?:sandbox|gateway|admin)\/[\w/-]*)/g)].map((m) => m[1]!)),
    ];
    expect(routes).toEqual(expect.arrayContaining(['/gateway/functions/', '/sandbox/storage/upload']));
    for (const route of routes) expect([route, frameMayReach(route)]).toEqual([route, true]);
  });

  it('SANDBOX_ALLOWED_HOSTS adds names; a configured host is allowed', () => {
    const named = guardPolicy('devbox.local', { SANDBOX_ALLOWED_HOSTS: 'sandbox.test' }, lan);
    expect(refusal(named, { ...ok, host: 'devbox.local:8787', token: named.token })).toBeUndefined();
    expect(refusal(named, { ...ok, host: 'sandbox.test:8787', token: named.token })).toBeUndefined();
    expect(refusal(named, { ...ok, host: '192.168.1.20:8787', token: named.token })).toMatch(/^host not allowed/);
  });

  it('parses Host headers with ports and IPv6 brackets', () => {
    expect(hostName('[::1]:8787')).toBe('[::1]');
    expect(hostName('Example.COM:80')).toBe('example.com');
    expect(hostName('10.0.0.1')).toBe('10.0.0.1');
    // Kept whole, so they match no allowed name.
    expect(hostName('[::1]evil.com')).toBe('[::1]evil.com');
    expect(hostName('[::1]:80x')).toBe('[::1]:80x');
    expect(hostName('::1:8787')).toBe('::1:8787');
    expect(hostName('::1')).toBe('::1');
    expect(isLoopback('127.0.0.1')).toBe(true);
    expect(isLoopback('127.1.2.3')).toBe(true);
    expect(isLoopback('0.0.0.0')).toBe(false);
    expect(isLoopback('192.168.1.20')).toBe(false);
  });
});

describe('beyond loopback: the per-start token', () => {
  const policy = guardPolicy('0.0.0.0', {}, lan);

  it('is random per start and required on /admin, /sandbox/* and the gateway only', () => {
    expect(policy.token).toMatch(/^[\w-]{32}$/);
    expect(guardPolicy('0.0.0.0', {}, lan).token).not.toBe(policy.token);
    const host = '192.168.1.20:8787';
    for (const p of ['/admin', '/sandbox/clock', '/sandbox/storage/upload', '/gateway/functions/ping']) {
      expect(isGuardedPath(p)).toBe(true);
      expect(refusal(policy, { ...ok, host, path: p })).toMatch(/^sandbox token required/);
      expect(refusal(policy, { ...ok, host, path: p, token: 'wrong' })).toMatch(/^sandbox token required/);
      expect(refusal(policy, { ...ok, host, path: p, token: policy.token })).toBeUndefined();
    }
    for (const p of ['/health', '/files/x', '/tcloud/tcb', '/wechat/cgi-bin/stable_token', '/sandboxes']) {
      expect(isGuardedPath(p)).toBe(false);
      expect(refusal(policy, { ...ok, host, path: p })).toBeUndefined();
    }
  });

  it('a wildcard listener answers to this machine’s addresses, still not to other names', () => {
    expect(refusal(policy, { ...ok, host: '[fe80::1]:8787', token: policy.token })).toBeUndefined();
    expect(refusal(policy, { ...ok, host: '0.0.0.0:8787', token: policy.token })).toBeUndefined();
    expect(refusal(policy, { ...ok, host: 'evil.example:8787', token: policy.token })).toMatch(/^host not allowed/);
  });

  it('tools send the token only to the sandbox it belongs to', () => {
    expect(sameSandbox('http://192.168.1.20:8787', 'http://192.168.1.20:8787/')).toBe(true);
    expect(sameSandbox('http://192.168.1.20:8787', 'http://127.0.0.1:8787')).toBe(true);
    expect(sameSandbox('http://192.168.1.20:8787', 'http://127.0.0.1:9999')).toBe(false);
    expect(sameSandbox('http://192.168.1.20:8787', 'http://evil.example:8787')).toBe(false);
    expect(sameSandbox('http://192.168.1.20:8787', 'not a url')).toBe(false);
  });
});

describe('cloud paths', () => {
  it('refuses backslashes, colons, control characters, empty, . and .. segments', () => {
    for (const bad of [
      '',
      '/',
      'a\\b',
      '..\\cloudfunctions\\ping\\index.js',
      'C:/x',
      'a/b:c',
      'a\u0000b',
      'a\nb',
      '../x',
      'a/../../x',
      'a/./b',
      'a//b',
      'a/',
      '..',
    ]) {
      expect(safeCloudPath(bad)).toBeUndefined();
    }
    expect(safeCloudPath('/roster-uploads/a b.xlsx')).toBe('roster-uploads/a b.xlsx');
    expect(safeCloudPath('roster-reports/名单-1.xlsx')).toBe('roster-reports/名单-1.xlsx');
    expect(safeCloudPath('a/..b/c.d')).toBe('a/..b/c.d');
    expect(safeCloudPath('a/...b')).toBe('a/...b');
    expect(safeCloudPath('a/．．/b')).toBe('a/．．/b'); // full-width dots: a name on every file system
  });

  it('refuses what Windows would make something else: trailing dots or spaces, reserved characters, devices, over-long names', () => {
    for (const bad of [
      'a/.. /x', // Windows drops the space: `..`
      'x/..  ',
      'a/...',
      'b.',
      'a/c../d',
      'a\u007fb',
      'a<b',
      'a>b',
      'a"b',
      'a|b',
      'a?b',
      'a*b',
      'CON',
      'a/nul.txt',
      'Aux',
      'com1.log',
      'LPT9',
      'a'.repeat(256),
      `${'a/'.repeat(425)}b`,
    ]) {
      expect(safeCloudPath(bad)).toBeUndefined();
    }
    expect(safeCloudPath('a'.repeat(255))).toBe('a'.repeat(255));
    expect(safeCloudPath('console/contest.txt')).toBe('console/contest.txt');
  });

  it('every resolved file stays under the storage root with Windows path rules', () => {
    const root = 'C:\\sandbox\\storage';
    expect(fileUnder(root, 'roster-uploads/a.xlsx', path.win32)).toBe('C:\\sandbox\\storage\\roster-uploads\\a.xlsx');
    for (const bad of [
      '..\\functions\\ping\\index.js',
      'a\\..\\..\\functions\\ping\\index.js',
      'C:\\Windows\\x',
      'C:x',
      '\\\\server\\share\\x',
      'a/../../x',
    ]) {
      expect(fileUnder(root, bad, path.win32)).toBeUndefined();
    }
  });

  it('and with POSIX path rules', () => {
    expect(fileUnder('/data/storage', 'a/b.txt', path.posix)).toBe('/data/storage/a/b.txt');
    expect(fileUnder('/data/storage', '/etc/passwd', path.posix)).toBe('/data/storage/etc/passwd');
    expect(fileUnder('/data/storage', 'a/../../etc/passwd', path.posix)).toBeUndefined();
    // A name that only starts with two dots stays under the root, and is kept.
    expect(fileUnder('/data/storage', '..foo', path.posix)).toBe('/data/storage/..foo');
    expect(fileUnder('C:\\sandbox', '..foo', path.win32)).toBe('C:\\sandbox\\..foo');
  });
});
