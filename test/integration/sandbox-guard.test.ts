/**
 * The sandbox is driven only by its user: foreign Host or Origin refused, unsafe cloud paths refused,
 * malformed JSON a 400, and beyond loopback the per-start token (which its own functions carry).
 */
import fs from 'fs';
import http from 'http';
import os from 'os';
import path from 'path';
import { startSandbox, type Sandbox } from '../../sandbox';
import { readSession, sessionHeaders } from '../../sandbox/session';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import { httpExchange } from '../helpers/bridge';

jest.setTimeout(120_000);

async function sandboxOn(host: string): Promise<Sandbox> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-guard-'));
  const sandbox = await startSandbox({ port: 0, host, dataDir, guardEnv: {} });
  const stop = sandbox.stop.bind(sandbox);
  sandbox.stop = async () => {
    await stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  await deploySandbox(sandbox, { only: ['ping', 'face'] });
  return sandbox;
}

const json = (text: string) => JSON.parse(text) as { error?: string; ok?: boolean; openid?: string };

describe('on loopback', () => {
  let sandbox: Sandbox;
  const caller = { 'content-type': 'application/json', 'X-WX-OPENID': 'o_guard' };
  beforeAll(async () => {
    sandbox = await sandboxOn('127.0.0.1');
  });
  afterAll(() => sandbox.stop());

  it('answers its own user without a token', async () => {
    expect(sandbox.token).toBeUndefined();
    const answer = await httpExchange(`${sandbox.url}/gateway/functions/ping`, 'POST', caller, '{"action":"ping"}');
    expect(answer.statusCode).toBe(200);
    expect(json(answer.text)).toMatchObject({ ok: true, openid: 'o_guard' });
  });

  it('refuses a request from a web page (foreign Origin), even as text/plain', async () => {
    for (const route of ['/gateway/functions/ping', '/admin', '/sandbox/rules/reset', '/health']) {
      const answer = await httpExchange(
        `${sandbox.url}${route}`,
        'POST',
        { 'content-type': 'text/plain', origin: 'https://evil.example', 'X-WX-OPENID': 'o_guard' },
        '{"action":"ping"}',
      );
      expect(answer.statusCode).toBe(403);
      expect(json(answer.text).error).toMatch(/^origin not allowed/);
    }
  });

  it('refuses a foreign Host (DNS rebinding)', async () => {
    const answer = await httpExchange(`${sandbox.url}/sandbox/identities`, 'GET', { host: 'rebind.evil.example' });
    expect(answer.statusCode).toBe(403);
    expect(json(answer.text).error).toMatch(/^host not allowed/);
    const local = await httpExchange(`${sandbox.url}/sandbox/identities`, 'GET', { host: `localhost:${sandbox.port}` });
    expect(local.statusCode).toBe(200);
  });

  it('refuses an upload whose cloud path has a backslash, colon, NUL or ..; nothing is written', async () => {
    const before = sandbox.storage.list();
    for (const cloudPath of [
      '..\\functions\\ping\\index.js',
      'cloudfunctions\\ping\\index.js',
      'C:/x.js',
      'a\u0000.js',
      'a/../../x',
    ]) {
      const answer = await httpExchange(
        `${sandbox.url}/sandbox/storage/upload?cloudPath=${encodeURIComponent(cloudPath)}`,
        'POST',
        { 'X-WX-OPENID': 'o_guard' },
        'module.exports.main = () => "owned"',
      );
      expect(answer.statusCode).toBe(400);
    }
    expect(sandbox.storage.list()).toEqual(before);
    const fine = await httpExchange(
      `${sandbox.url}/sandbox/storage/upload?cloudPath=${encodeURIComponent('roster-uploads/ok.csv')}`,
      'POST',
      { 'X-WX-OPENID': 'o_guard' },
      'a,b',
    );
    expect(fine.statusCode).toBe(200);
  });

  it('answers malformed JSON with 400 and a clear message, never a 500 with a parser message', async () => {
    for (const route of ['/gateway/functions/ping', '/admin', '/sandbox/clock', '/sandbox/client/database']) {
      for (const body of ['{"action":', 'not json', '[1,2]', '"text"']) {
        const answer = await httpExchange(`${sandbox.url}${route}`, 'POST', caller, body);
        expect(answer.statusCode).toBe(400);
        expect(json(answer.text).error).toMatch(/^request body (is not valid JSON|must be a JSON object)/);
        expect(answer.text).not.toMatch(/Unexpected token|position \d/);
      }
    }
  });
  // No input takes the sandbox down or answers a 500.
  it('a function named like an Object member (constructor, toString, __proto__) is no function', async () => {
    for (const name of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      const answer = await httpExchange(`${sandbox.url}/gateway/functions/${name}`, 'POST', caller, '{}');
      expect(answer.statusCode).toBeLessThan(500);
      expect(answer.text).not.toMatch(/could not be cloned|native code/);
      const crash = await httpExchange(
        `${sandbox.url}/sandbox/functions/crash`,
        'POST',
        caller,
        JSON.stringify({ name }),
      );
      expect(crash.statusCode).toBeLessThan(500);
    }
  });

  it('JSON nested too deep is a 400; an event too deep to pass on fails at once, holding no instance', async () => {
    const deep = (levels: number) => `{"action":"status","x":${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}}`;
    for (const route of ['/gateway/functions/face', '/sandbox/quota', '/sandbox/client/database', '/admin']) {
      const answer = await httpExchange(`${sandbox.url}${route}`, 'POST', caller, deep(5000));
      expect(answer.statusCode).toBe(400);
      expect(json(answer.text).error).toMatch(/nested deeper than 64 levels/);
    }
    // Through the SDK's protocol the event travels as a string: it cannot be sent to the function's
    // process. More calls than the pool has instances (4), each answered with why, none waiting.
    for (let i = 0; i < 5; i += 1) {
      const answer = await httpExchange(
        `${sandbox.url}/admin`,
        'POST',
        caller,
        JSON.stringify({ action: 'functions.invokeFunction', function_name: 'face', request_data: deep(5000) }),
      );
      expect(answer.statusCode).toBe(200);
      expect(JSON.parse(answer.text)).toMatchObject({
        code: 'FUNCTIONS_EXECUTE_FAIL',
        message: expect.stringMatching(/^the event could not be sent/),
      });
    }
    const fine = await httpExchange(`${sandbox.url}/gateway/functions/face`, 'POST', caller, deep(20));
    expect(fine.statusCode).toBe(200);
    // Depth is read off the text: a flat body of millions of values is parsed once and answered.
    const flat = `{"name":[${'0,'.repeat(10_000_000)}0]}`;
    const wide = await httpExchange(`${sandbox.url}/sandbox/functions/crash`, 'POST', caller, flat);
    expect(wide.statusCode).toBe(400);
    expect(json(wide.text).error).toBe('name must be a deployed function');
  });

  it('a cloud path the local disk cannot hold is a 400 or 409 that names no local folder', async () => {
    const upload = (cloudPath: string) =>
      httpExchange(
        `${sandbox.url}/sandbox/storage/upload?cloudPath=${encodeURIComponent(cloudPath)}`,
        'POST',
        { 'X-WX-OPENID': 'o_guard' },
        'x',
      );
    expect((await upload('deep/ok.txt')).statusCode).toBe(200);
    for (const [cloudPath, status] of [
      ['...', 400],
      ['a'.repeat(300), 400],
      ['deep/ok.txt/below', 409],
      ['deep', 409],
    ] as const) {
      const answer = await upload(cloudPath);
      expect(answer.statusCode).toBe(status);
      expect(answer.text).not.toContain(sandbox.storage.root);
    }
    const fileID = (cloudPath: string) =>
      JSON.stringify({ fileID: `cloud://${sandbox.env}.${sandbox.storage.bucket}/${cloudPath}` });
    for (const route of ['/sandbox/storage/temp-url', '/sandbox/client/storage/download']) {
      for (const cloudPath of ['...', 'deep']) {
        const answer = await httpExchange(`${sandbox.url}${route}`, 'POST', caller, fileID(cloudPath));
        expect(answer.statusCode).toBeLessThan(500);
        expect(answer.text).not.toContain(sandbox.storage.root);
      }
    }
    // A name at the 255-byte limit is stored (the file is written elsewhere first, then moved).
    for (const cloudPath of ['n'.repeat(255), `deep/${'名'.repeat(85)}`]) {
      expect((await upload(cloudPath)).statusCode).toBe(200);
      expect(sandbox.storage.exists(cloudPath)).toBe(true);
    }
    // A file stored at `__proto__` has its owner like any other: the uploader may replace it.
    expect((await upload('__proto__')).statusCode).toBe(200);
    expect(sandbox.storage.ownerOf('__proto__')).toBe('o_guard');
  });

  it('a body over 50 MB gets a 413 (declared or sent), then the connection closes; the sandbox goes on', async () => {
    // Streamed without a length (chunked, 1 MB at a time): the 413 comes when it passes 50 MB.
    const chunked = await stream(`${sandbox.url}/sandbox/storage/upload?cloudPath=big.bin`, {
      'X-WX-OPENID': 'o_guard',
    });
    expect(chunked).toMatchObject({ statusCode: 413, continued: false });
    expect(chunked.sentMb).toBeGreaterThan(50);
    expect(chunked.sentMb).toBeLessThan(60);
    const declared = await httpExchange(`${sandbox.url}/sandbox/storage/upload?cloudPath=big.bin`, 'POST', {
      'X-WX-OPENID': 'o_guard',
      'content-length': String(60 * 1024 * 1024),
    }).catch((err: Error) => ({ statusCode: -1, header: {}, text: err.message }));
    expect(declared.statusCode).toBe(413);
    const sent = await httpExchange(
      `${sandbox.url}/sandbox/storage/upload?cloudPath=big.bin`,
      'POST',
      { 'X-WX-OPENID': 'o_guard' },
      'x'.repeat(51 * 1024 * 1024),
    ).catch((err: Error) => ({ statusCode: -1, header: {}, text: err.message }));
    expect(sent.statusCode).toBe(413);
    expect(sandbox.storage.exists('big.bin')).toBe(false);
    expect((await httpExchange(`${sandbox.url}/health`, 'GET', {})).statusCode).toBe(200);
  });

  it('sends 100 Continue only when a route reads the body: never to a refused or too-large request', async () => {
    const upload = `${sandbox.url}/sandbox/storage/upload?cloudPath=expected.txt`;
    const accepted = await stream(upload, { 'X-WX-OPENID': 'o_guard', expect: '100-continue' }, 1);
    expect(accepted).toMatchObject({ statusCode: 200, continued: true });
    expect(sandbox.storage.exists('expected.txt')).toBe(true);
    const foreign = await stream(
      upload,
      { 'X-WX-OPENID': 'o_guard', expect: '100-continue', origin: 'https://evil.example' },
      1,
    );
    expect(foreign).toMatchObject({ statusCode: 403, continued: false, sentMb: 0 });
    const tooLarge = await stream(
      upload,
      { 'X-WX-OPENID': 'o_guard', expect: '100-continue', 'content-length': String(60 * 1024 * 1024) },
      60,
    );
    expect(tooLarge).toMatchObject({ statusCode: 413, continued: false, sentMb: 0 });
    expect((await httpExchange(`${sandbox.url}/health`, 'GET', {})).statusCode).toBe(200);
  });
});

/**
 * Sends up to `mb` megabytes in 1 MB writes, waiting for `100 Continue` first when the headers ask
 * for it, and stops writing once an answer comes: the answer, whether the go-ahead came, and how
 * many megabytes went out before the answer.
 */
function stream(
  url: string,
  headers: Record<string, string>,
  mb = 80,
): Promise<{ statusCode: number; continued: boolean; sentMb: number }> {
  return new Promise((resolve, reject) => {
    let statusCode = 0;
    let continued = false;
    let sentMb = 0;
    const chunk = Buffer.alloc(1024 * 1024, 0x78);
    const req = http.request(url, { method: 'POST', headers, agent: false }, (res) => {
      statusCode = res.statusCode ?? 0;
      res.resume();
      res.on('end', () => {
        req.destroy();
        resolve({ statusCode, continued, sentMb });
      });
    });
    const writeOn = () => {
      while (!statusCode && sentMb < mb) {
        sentMb += 1;
        if (!req.write(chunk)) return void req.once('drain', writeOn);
      }
      if (!statusCode) req.end();
    };
    // Writes after the answer closed the connection fail (EPIPE, reset): the answer is what counts.
    req.on('error', (err) => (statusCode ? resolve({ statusCode, continued, sentMb }) : reject(err)));
    if (headers.expect) {
      req.on('continue', () => {
        continued = true;
        writeOn();
      });
      req.flushHeaders();
    } else writeOn();
  });
}

describe('beyond loopback (SANDBOX_HOST=0.0.0.0)', () => {
  let sandbox: Sandbox;
  beforeAll(async () => {
    sandbox = await sandboxOn('0.0.0.0');
  });
  afterAll(() => sandbox.stop());

  it('has a per-start token, written to its session file for the tools on this machine', () => {
    expect(sandbox.token).toMatch(/^[\w-]{32}$/);
    const file = path.join(sandbox.dataDir, 'session.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(readSession(sandbox.dataDir)).toEqual({ url: sandbox.url, token: sandbox.token });
    // What the CLI and npm run demo send, at its address or at this machine's loopback.
    expect(sessionHeaders(sandbox.dataDir, sandbox.url)).toEqual({ 'X-Sandbox-Token': sandbox.token });
    expect(sessionHeaders(sandbox.dataDir, `http://127.0.0.1:${sandbox.port}`)).toEqual({
      'X-Sandbox-Token': sandbox.token,
    });
    expect(sessionHeaders(sandbox.dataDir, 'http://other.example:1')).toEqual({});
  });

  it('refuses the gateway, /admin and /sandbox/* without the token', async () => {
    for (const [method, route] of [
      ['POST', '/gateway/functions/ping'],
      ['POST', '/admin'],
      ['GET', '/sandbox/identities'],
      ['POST', '/sandbox/storage/upload?cloudPath=roster-uploads/x.csv'],
    ] as const) {
      for (const token of [undefined, 'wrong-token']) {
        const headers: Record<string, string> = {
          'X-WX-OPENID': 'o_guard',
          ...(token ? { 'X-Sandbox-Token': token } : {}),
        };
        const answer = await httpExchange(
          `${sandbox.url}${route}`,
          method,
          headers,
          method === 'POST' ? '{}' : undefined,
        );
        expect(answer.statusCode).toBe(403);
        expect(json(answer.text).error).toMatch(/^sandbox token required/);
      }
    }
    expect((await httpExchange(`${sandbox.url}/health`, 'GET', {})).statusCode).toBe(200);
  });

  it('with the token, a function runs and reaches the database through the SDK (its endpoint carries the token)', async () => {
    const answer = await httpExchange(
      `${sandbox.url}/gateway/functions/ping`,
      'POST',
      { 'X-WX-OPENID': 'o_guard', 'X-Sandbox-Token': sandbox.token! },
      '{"action":"ping"}',
    );
    expect(answer.statusCode).toBe(200);
    expect(json(answer.text)).toMatchObject({ ok: true, openid: 'o_guard' });
    // face status reads the database with wx-server-sdk: its /admin calls carry the token.
    const reads = sandbox.tcb.stats.reads;
    const status = await httpExchange(
      `${sandbox.url}/gateway/functions/face`,
      'POST',
      { 'X-WX-OPENID': 'o_guard', 'X-Sandbox-Token': sandbox.token! },
      '{"action":"status"}',
    );
    expect(status.statusCode).toBe(200);
    expect(json(status.text)).toMatchObject({ ok: true });
    expect(sandbox.tcb.stats.reads).toBeGreaterThan(reads);
  });

  it('removes its session file when it stops', async () => {
    const other = await startSandbox({
      port: 0,
      host: '0.0.0.0',
      dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-guard-')),
      guardEnv: {},
    });
    expect(readSession(other.dataDir)?.token).toBe(other.token);
    await other.stop();
    expect(readSession(other.dataDir)).toBeUndefined();
    fs.rmSync(other.dataDir, { recursive: true, force: true });
  });
});
