/**
 * Page tests against a REAL sandbox: installs on `global.wx` a `request` that performs real HTTP
 * (Node's `http`, since jsdom has no network) and a `cloud` whose `callFunction` goes through the
 * sandbox gateway, as the device's cloud client would reach the deployed function. So a page's
 * `callCloud` reaches the real cloud functions in both client modes, and the sandbox-only calls
 * (face complete, realname authorize, identities) reach the real emulator.
 *
 * The target is read from `miniprogram/config` at call time: tests set `config.sandboxUrl` (and
 * `config.sandboxOpenid` for the caller) on the same module instance the pages import.
 *
 * Typed without the mini-program typings on purpose: this file is also checked by the Node config.
 */
import { config } from '../../miniprogram/config';

const http = require('http') as typeof import('http');

const ROOT = require('path').resolve(__dirname, '../..') as string;

/** A real sandbox in its own Node process (see `startSandbox`). */
export interface SandboxProcess {
  url: string;
  /** Stops it (its data dir is removed); answers every byte it had persisted (database journal, storage, logs), for PII scans. */
  stop(): Promise<{ persistedText: string }>;
}

/** Runs in the child: starts `freshSandbox()` (the functions jest's globalSetup built), and stops it on request. */
const CHILD = `
require('./scripts/register');
const { freshSandbox, persistedText } = require('./test/helpers/sandbox');
freshSandbox(JSON.parse(process.argv[1])).then((sandbox) => {
  process.send({ url: sandbox.url });
  process.once('message', async () => {
    const text = persistedText(sandbox);
    await sandbox.stop();
    process.send({ persistedText: text }, () => process.exit(0));
  });
  // The test run ended without stopping it (killed, crashed): do not outlive it.
  process.once('disconnect', () => sandbox.stop().finally(() => process.exit(0)));
}, (err) => { console.error(err); process.exit(1); });
`;

/**
 * Starts `freshSandbox(options)` (test/helpers/sandbox.ts) in a child
 * Node process. Page tests run under jsdom, where neither esbuild (its Buffer check) nor the
 * sandbox (no `structuredClone`, browser builds of its dependencies) can run in-process; a separate
 * process is also what a device talking to the sandbox looks like.
 */
export function startSandbox(options: { functionEnv?: Record<string, string> } = {}): Promise<SandboxProcess> {
  const { spawn } = require('child_process') as typeof import('child_process');
  const child = spawn(process.execPath, ['-e', CHILD, JSON.stringify(options)], {
    cwd: ROOT,
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const next = <T>(): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null) => reject(new Error(`sandbox process exited (${code})`));
      child.once('exit', onExit);
      child.once('message', (message) => {
        child.off('exit', onExit);
        resolve(message as T);
      });
    });
  return next<{ url: string }>().then(({ url }) => ({
    url,
    stop() {
      const answer = next<{ persistedText: string }>();
      child.send('stop');
      return answer;
    },
  }));
}

interface HttpAnswer {
  statusCode: number;
  header: Record<string, string>;
  text: string;
}

/** One HTTP exchange; `body` is sent as is. */
export function httpExchange(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    // A connection per exchange (agent: false): a kept-alive socket the sandbox closes as idle just
    // as a request goes out answers "socket hang up", a race a loaded machine makes likely.
    const req = http.request(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const header: Record<string, string> = {};
        for (const [key, value] of Object.entries(res.headers)) header[key] = String(value);
        resolve({ statusCode: res.statusCode ?? 0, header, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** POSTs JSON to the test sandbox (what a test does on the user's or WeChat's behalf). */
export async function postJson(
  route: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const answer = await httpExchange(
    `${config.sandboxUrl}${route}`,
    'POST',
    { 'content-type': 'application/json', ...headers },
    JSON.stringify(body),
  );
  return { status: answer.statusCode, body: parseJson(answer.text) as Record<string, unknown> };
}

interface RequestOption {
  url: string;
  method?: string;
  header?: Record<string, string>;
  data?: unknown;
  success?: (res: { statusCode: number; data: unknown; header: Record<string, string>; errMsg: string }) => void;
  fail?: (err: { errMsg: string; errno: number }) => void;
  complete?: (res: { errMsg: string }) => void;
}

/** `wx.request` as the client runtime does it: JSON body (or query for GET), `dataType: 'json'`. */
function request(option: RequestOption): { abort(): void } {
  const method = (option.method ?? 'GET').toUpperCase();
  let url = option.url;
  let body: string | undefined;
  if (option.data !== undefined && method === 'GET') {
    const query = new URLSearchParams(option.data as Record<string, string>).toString();
    if (query) url += (url.includes('?') ? '&' : '?') + query;
  } else if (option.data !== undefined) {
    body = typeof option.data === 'string' ? option.data : JSON.stringify(option.data);
  }
  httpExchange(url, method, { 'content-type': 'application/json', ...option.header }, body).then(
    (answer) => {
      const res = { statusCode: answer.statusCode, data: parseJson(answer.text), header: answer.header };
      option.success?.({ ...res, errMsg: 'request:ok' });
      option.complete?.({ errMsg: 'request:ok' });
    },
    (err: Error) => {
      const errMsg = `request:fail ${err.message}`;
      option.fail?.({ errMsg, errno: 600001 });
      option.complete?.({ errMsg });
    },
  );
  return { abort() {} };
}

/** `wx.cloud`: the deployed function, reached through the sandbox gateway as `config.sandboxOpenid`. */
const cloud = {
  init(): void {},
  async callFunction(option: { name: string; data?: Record<string, unknown> }) {
    const answer = await httpExchange(
      `${config.sandboxUrl}/gateway/functions/${option.name}`,
      'POST',
      { 'content-type': 'application/json', 'X-WX-OPENID': config.sandboxOpenid },
      JSON.stringify(option.data ?? {}),
    );
    if (answer.statusCode !== 200) throw new Error(`cloud.callFunction:fail ${answer.text}`);
    return { result: parseJson(answer.text), errMsg: 'cloud.callFunction:ok', requestID: 'sandbox' };
  },
};

/** Installs the bridge on `global.wx` (call after miniprogram-simulate is loaded: it replaces `wx`). */
export function installBridge(): void {
  const wx = (globalThis as unknown as { wx: Record<string, unknown> }).wx;
  wx.request = request;
  wx.cloud = cloud;
  // What DevTools answers for a development build (the simulator has no account info).
  wx.getAccountInfoSync = () => ({ miniProgram: { envVersion: 'develop', appId: 'wx1234567890abcdef' } });
}
