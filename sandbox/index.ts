/**
 * The local sandbox: one HTTP server on 127.0.0.1 that emulates the cloud (the TCB protocol of
 * wx-server-sdk: database, storage, functions), WeChat's open APIs, and what WeChat's client and
 * user would do (simulation endpoints). The unmodified cloud functions run against it with the
 * real SDK. `startSandbox()` is what `npm start` and the test suites use.
 */
import fs from 'fs';
import http from 'http';
import path from 'path';
import type { AddressInfo } from 'net';
import { handleCloudApi } from './cloudapi';
import { clientDatabase, mayReadFile, mayWriteFile } from './client';
import { Database } from './db';
import { Environment } from './environment';
import { DEMO_IDENTITIES } from './demo';
import { FunctionRunner, type InvokeResult } from './functions';
import { byteRange, Storage } from './storage';
import { TcbService, type QuotaOptions } from './tcb';
import { WechatEmulator } from './wechat';
import { loadSecrets, platformEnv, type SandboxSecrets } from './secrets';
import {
  BadRequest,
  closeAfter,
  continueOnRead,
  declaredTooLarge,
  MAX_BODY,
  MAX_JSON_DEPTH,
  nestedDeeperThan,
  readBody,
  parseMultipart,
  refuseTooLarge,
  sendJson,
} from './http-util';
import { sandboxPort } from './env';
import { withUserInfo } from './events';
import { guardPolicy, lanAddress, refusal, TOKEN_HEADER, TOKEN_QUERY, type GuardRequest } from './guard';
import { removeSession, writeSession } from './session';

export const DEFAULT_PORT = 8787;
export const DEFAULT_ENV = 'sandbox-env';
export const DEFAULT_DATA_DIR = path.resolve(__dirname, '../.sandbox');
export const REGION = 'ap-shanghai';

export interface SandboxOptions {
  /** 0 picks a free port. Default SANDBOX_PORT or 8787. */
  port?: number;
  /** Default 127.0.0.1. Only change it to reach the sandbox from a phone on your LAN. */
  host?: string;
  /** Default SANDBOX_DATA_DIR or .sandbox/. */
  dataDir?: string;
  env?: string;
  quota?: QuotaOptions;
  /** Echo function logs to this process's stdout. */
  echoLogs?: boolean;
  maxInstances?: number;
  /** Node.js binary for function instances. Default SANDBOX_FUNCTION_NODE, else this process's. */
  functionNode?: string;
  /** Where SANDBOX_ALLOWED_HOSTS / SANDBOX_ALLOWED_ORIGINS are read (default process.env). */
  guardEnv?: Readonly<Record<string, string | undefined>>;
}

export interface Sandbox {
  url: string;
  port: number;
  env: string;
  dataDir: string;
  logFile: string;
  /** The per-start token `/admin`, `/sandbox/*` and the gateway require; none when listening on loopback only. */
  token?: string;
  secrets: SandboxSecrets;
  /** What deploys applied: functions, permissions (see environment.ts). */
  environment: Environment;
  /** Where the management API is (a deploy's TCB and SCF endpoints), and the key pair it checks. */
  cloudApi: { url: string; secretId: string; secretKey: string; envId: string; region: string; bucket: string };
  db: Database;
  storage: Storage;
  tcb: TcbService;
  wechat: WechatEmulator;
  functions: FunctionRunner;
  clock: { offsetMs: number; functionSkewMs: number; now(): number };
  /** Runs a function as `openid` (what the gateway does). */
  invoke(name: string, event: unknown, openid: string, fresh?: boolean): Promise<InvokeResult>;
  stop(): Promise<void>;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const env = options.env ?? DEFAULT_ENV;
  const dataDir = path.resolve(options.dataDir ?? process.env.SANDBOX_DATA_DIR ?? DEFAULT_DATA_DIR);
  fs.mkdirSync(dataDir, { recursive: true });
  const secrets = loadSecrets(dataDir);
  const clock = {
    offsetMs: 0,
    /** Extra offset seen only by function instances: a server whose clock is wrong. */
    functionSkewMs: 0,
    now() {
      return Date.now() + this.offsetMs;
    },
  };
  let baseUrl = '';
  // A blank environment until a deploy applies the manifest (collections, indexes, rules, functions).
  const db = new Database(path.join(dataDir, 'db'), () => clock.now());
  const environment = new Environment(dataDir);
  const storage = new Storage(
    dataDir,
    env,
    () => baseUrl,
    () => clock.now(),
  );
  const logFile = path.join(dataDir, 'logs', 'functions.log');

  const functions = new FunctionRunner({
    baseEnv: {},
    // As deployed: the platform's own variables, then the ones the deploy set.
    resolve: (name) => {
      const fn = environment.function(name);
      if (!fn) return undefined;
      return {
        entry: path.join(environment.codeDir(fn), `${fn.handler.split('.')[0]}.js`),
        timeout: fn.timeout,
        memory: fn.memory,
        env: { ...fn.env, ...platformEnv(env, baseUrl, policy.token) },
        revision: fn.revision,
      };
    },
    clockOffsetMs: () => clock.offsetMs + clock.functionSkewMs,
    logFile,
    echo: options.echoLogs,
    maxInstances: options.maxInstances,
    nodePath: options.functionNode ?? (process.env.SANDBOX_FUNCTION_NODE || undefined),
    scratchDir: path.join(dataDir, 'runtime'),
  });

  const invoke = (name: string, event: unknown, openid: string, fresh = false) =>
    functions.invoke(name, event, { openid, appid: secrets.appid }, fresh);

  const wechat = new WechatEmulator({
    appid: secrets.appid,
    secret: secrets.appSecret,
    merchant: { mchId: secrets.mchId, serialNo: secrets.certSerialNo, publicKeyPem: secrets.merchantPublicKey },
    clock,
    // The seed's face_identify message push, delivered to the `face` function as WeChat would.
    pushFaceEvent: async (event) => {
      const result = await invoke('face', event, event.FromUserName);
      return result.ok && (result.result === 'success' || (result.result as { ok?: boolean } | null)?.ok === true);
    },
  });
  const tcb = new TcbService(db, storage, functions, () => ({ appid: secrets.appid }));
  tcb.quota = options.quota ?? {};

  /** A JSON object body; anything else is the caller's mistake (400), never the sandbox's (500). */
  const json = async (req: http.IncomingMessage): Promise<Record<string, unknown>> => {
    const text = (await readBody(req)).toString('utf8');
    // Checked on the text: JSON.parse itself takes any depth, what follows it (a copy to a function's
    // process) does not.
    if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
      throw new BadRequest(`request body nested deeper than ${MAX_JSON_DEPTH} levels`);
    }
    let value: unknown;
    try {
      value = JSON.parse(text || '{}');
    } catch {
      throw new BadRequest('request body is not valid JSON: send a JSON object (content-type: application/json)');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new BadRequest('request body must be a JSON object');
    }
    return value as Record<string, unknown>;
  };

  /** Exact routes: `METHOD path`. */
  const exact: Record<string, Handler> = {
    'GET /health': async (_req, res) =>
      sendJson(res, 200, {
        ok: true,
        env,
        appid: secrets.appid,
        functions: listFunctions(environment),
        functionRuntimes: [...functions.versions],
      }),
    'POST /admin': async (req, res) => sendJson(res, 200, await tcb.handle(await json(req), baseUrl)),
    // What a mini-program can do without a function (wx.cloud.database() as the X-WX-OPENID user).
    'POST /sandbox/client/database': async (req, res) => {
      const openid = callerOf(req);
      if (!openid) return sendJson(res, 400, { error: 'X-WX-OPENID header required' });
      return send(res, clientDatabase(db, environment, openid, await json(req)));
    },
    'POST /sandbox/client/storage/download': async (req, res) => {
      const openid = callerOf(req);
      if (!openid) return sendJson(res, 400, { error: 'X-WX-OPENID header required' });
      const cloudPath = storage.pathOf(String((await json(req)).fileID ?? ''));
      if (!cloudPath || !storage.exists(cloudPath)) return sendJson(res, 404, { error: 'file not found' });
      if (!mayReadFile(environment.storagePermission(), storage.ownerOf(cloudPath), openid)) {
        return sendJson(res, 403, { error: 'STORAGE_EXCEED_AUTHORITY: permission denied' });
      }
      const content = storage.read(cloudPath)!;
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': content.length });
      res.end(content);
    },
    /** Every collection and the storage back to the platform's defaults: a team that skipped the rules step. */
    'POST /sandbox/rules/reset': async (_req, res) => {
      environment.resetRules();
      sendJson(res, 200, { ok: true });
    },
    'GET /sandbox/identities': async (_req, res) => sendJson(res, 200, { identities: DEMO_IDENTITIES }),
    'GET /sandbox/stats': async (_req, res) => sendJson(res, 200, { db: tcb.stats, wechat: wechat.stats() }),
    'GET /sandbox/clock': async (_req, res) => sendJson(res, 200, clockState()),
    'POST /sandbox/clock': async (req, res) => {
      const input = await json(req);
      const offset = Number(input.offsetSeconds ?? 0);
      const skew = Number(input.functionSkewSeconds ?? 0);
      if (!Number.isFinite(offset) || !Number.isFinite(skew)) {
        return sendJson(res, 400, { error: 'offsetSeconds and functionSkewSeconds must be numbers' });
      }
      clock.offsetMs = offset * 1000;
      clock.functionSkewMs = skew * 1000;
      return sendJson(res, 200, clockState());
    },
    'POST /sandbox/quota': async (req, res) => {
      tcb.quota = (await json(req)) as QuotaOptions;
      sendJson(res, 200, { quota: tcb.quota });
    },
    'POST /sandbox/functions/crash': async (req, res) => {
      const name = (await json(req)).name;
      if (typeof name !== 'string' || !functions.deployed(name)) {
        return sendJson(res, 400, { error: 'name must be a deployed function' });
      }
      return sendJson(res, 200, { killed: functions.crash(name) });
    },
    'POST /sandbox/stats/reset': async (_req, res) => {
      tcb.resetStats();
      sendJson(res, 200, { db: tcb.stats });
    },
    'POST /sandbox/face/complete': async (req, res) => send(res, wechat.completeFace((await json(req)) as never)),
    'POST /sandbox/realname/authorize': async (req, res) =>
      send(res, wechat.authorizeRealname((await json(req)) as never)),
    'POST /sandbox/citycheck/authorize': async (req, res) =>
      send(res, wechat.authorizeCityCheck((await json(req)) as never)),
    'POST /sandbox/faults': async (req, res) => send(res, wechat.injectFault((await json(req)) as never)),
    'POST /sandbox/db/faults': async (req, res) => send(res, tcb.injectFault(await json(req))),
    'POST /sandbox/storage/faults': async (req, res) => send(res, tcb.injectStorageFault(await json(req))),
    'POST /sandbox/storage/upload': async (req, res, url) => {
      // What wx.uploadFile sends in sandbox mode: multipart/form-data with one file part, as the
      // X-WX-OPENID user, under the storage permission (the file becomes theirs).
      const openid = callerOf(req);
      if (!openid) return sendJson(res, 400, { error: 'X-WX-OPENID header required' });
      const asked = url.searchParams.get('cloudPath') ?? '';
      const cloudPath = storage.safePath(asked);
      if (!cloudPath) {
        return sendJson(res, 400, {
          error: asked
            ? `refused cloud path ${JSON.stringify(asked.slice(0, 200))}: /-separated names, none empty, ".", ".." or ending in a dot or space, without \\ : < > " | ? * or control characters, no device names (CON, NUL…), at most 255 bytes a name and 850 in all`
            : 'cloudPath query parameter required',
        });
      }
      const exists = storage.exists(cloudPath);
      if (!mayWriteFile(environment.storagePermission(), storage.ownerOf(cloudPath), openid, exists)) {
        return sendJson(res, 403, { error: 'STORAGE_EXCEED_AUTHORITY: permission denied' });
      }
      const raw = await readBody(req);
      const content = parseMultipart(raw, String(req.headers['content-type'] ?? '')) ?? raw;
      return sendJson(res, 200, { fileID: storage.write(cloudPath, content, openid) });
    },
    /** wx.cloud.getTempFileURL for a signed-in user: a link only to what the storage permission lets them read. */
    'POST /sandbox/storage/temp-url': async (req, res) => {
      const openid = callerOf(req);
      if (!openid) return sendJson(res, 400, { error: 'X-WX-OPENID header required' });
      const cloudPath = storage.pathOf(String((await json(req)).fileID ?? ''));
      if (!cloudPath || !storage.exists(cloudPath)) return sendJson(res, 404, { error: 'file not found' });
      if (!mayReadFile(environment.storagePermission(), storage.ownerOf(cloudPath), openid)) {
        return sendJson(res, 403, { error: 'STORAGE_EXCEED_AUTHORITY: permission denied' });
      }
      return sendJson(res, 200, { tempFileURL: storage.tempUrl(cloudPath, 600) });
    },
  };

  /** Prefix routes: `METHOD prefix` → handler(rest of the path). */
  const prefixed: Array<[string, string, (rest: string, ...args: Parameters<Handler>) => Promise<void>]> = [
    [
      'PUT',
      '/storage/upload/',
      async (rest, req, res) => {
        const cloudPath = storage.safePath(rest);
        const token = String(req.headers['x-cos-security-token'] ?? req.headers.authorization ?? '');
        if (!cloudPath || !storage.verifyUploadToken(cloudPath, token)) {
          return sendJson(res, 403, { error: 'bad upload token' });
        }
        storage.write(cloudPath, await readBody(req));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('');
      },
    ],
    [
      'GET',
      '/files/',
      async (rest, req, res, url) => {
        const cloudPath = storage.safePath(rest);
        const valid = cloudPath && storage.verify(cloudPath, url.searchParams.get('t'), url.searchParams.get('sign'));
        const size = valid ? storage.sizeOf(cloudPath) : undefined;
        if (!cloudPath || size === undefined) return sendJson(res, 404, { error: 'file not found or link expired' });
        // One byte range, as COS serves it (bytes=first-last, first-, -suffix): 206 with Content-Range.
        const range = byteRange(req.headers.range, size);
        if (range === 'unsatisfiable') {
          res.writeHead(416, { 'content-range': `bytes */${size}` });
          res.end();
          return;
        }
        const [first, last] = range ?? [0, size - 1];
        const content = storage.readRange(cloudPath, first, last - first + 1);
        if (!content) return sendJson(res, 404, { error: 'file not found or link expired' });
        res.writeHead(range ? 206 : 200, {
          'content-type': 'application/octet-stream',
          'content-length': content.length,
          'accept-ranges': 'bytes',
          ...(range ? { 'content-range': `bytes ${first}-${last}/${size}` } : {}),
        });
        res.end(content);
      },
    ],
    [
      'POST',
      '/gateway/functions/',
      async (name, req, res) => {
        if (!functions.deployed(name)) return sendJson(res, 404, { error: `no such function: ${name}` });
        const openid = callerOf(req);
        if (!openid) return sendJson(res, 400, { error: 'X-WX-OPENID header required' });
        const result = await invoke(
          name,
          withUserInfo(await json(req), { appId: secrets.appid, openId: openid }),
          openid,
        );
        if (!result.ok) return sendJson(res, 502, { error: result.error });
        return sendJson(res, 200, result.result);
      },
    ],
    ['GET', '/wechat/', wechatRoute],
    ['POST', '/wechat/', wechatRoute],
    [
      'POST',
      '/tcloud/',
      async (service, req, res, url) => {
        const body = (await readBody(req)).toString('utf8');
        sendJson(
          res,
          200,
          handleCloudApi({ service, path: url.pathname, headers: req.headers, body }, cloudApiContext),
        );
      },
    ],
  ];

  const cloudApiContext = {
    envId: env,
    bucket: storage.bucket,
    region: REGION,
    env: environment,
    db,
    credentials: { secretId: secrets.cloudApiSecretId, secretKey: secrets.cloudApiSecretKey },
    now: () => clock.now(),
  };

  async function wechatRoute(rest: string, req: http.IncomingMessage, res: http.ServerResponse, url: URL) {
    const raw = req.method === 'GET' ? '' : (await readBody(req)).toString('utf8');
    let body: unknown;
    try {
      body = raw ? (JSON.parse(raw) as unknown) : undefined;
    } catch {
      return sendJson(res, 200, { errcode: 47001, errmsg: 'data format error' });
    }
    const answer = await wechat.handle(req.method ?? 'GET', `/${rest}`, url.searchParams, body);
    return sendJson(res, answer.status, answer.body);
  }

  function clockState() {
    return {
      offsetSeconds: clock.offsetMs / 1000,
      functionSkewSeconds: clock.functionSkewMs / 1000,
      now: new Date(clock.now()).toISOString(),
    };
  }

  // An empty SANDBOX_HOST (e.g. `SANDBOX_HOST= npm start`) means the default, never every interface.
  const host = options.host || process.env.SANDBOX_HOST?.trim() || '127.0.0.1';
  const policy = guardPolicy(host, options.guardEnv ?? process.env);

  const server = http.createServer((req, res) => {
    let url: URL;
    let p: string;
    try {
      url = new URL(req.url ?? '/', 'http://sandbox.invalid');
      p = decodeURIComponent(url.pathname);
    } catch {
      return sendJson(res, 400, { error: 'malformed request path' });
    }
    const method = req.method ?? 'GET';
    const refused = refusal(policy, guardRequest(req, p, url));
    if (refused) {
      req.resume();
      return sendJson(res, 403, { error: refused });
    }
    const handler = exact[`${method} ${p}`];
    const prefix = handler ? undefined : prefixed.find(([m, pre]) => m === method && p.startsWith(pre));
    const run = handler
      ? handler(req, res, url)
      : prefix
        ? prefix[2](p.slice(prefix[1].length), req, res, url)
        : Promise.resolve(sendJson(res, 404, { error: `not found: ${method} ${p}` }));
    run.catch((err: unknown) => {
      if (!res.headersSent) {
        if (err instanceof BadRequest) {
          if (err.status === 413) refuseTooLarge(req, res, err.message);
          else sendJson(res, err.status, { error: err.message });
        } else sendJson(res, 500, { error: (err as Error).message });
      } else res.end();
    });
  });
  // A client that waits for `100 Continue` gets it when a route reads its body (after the guard),
  // and before a body declared too large the 413 instead.
  server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (!declaredTooLarge(req)) {
      continueOnRead(req, res);
      server.emit('request', req, res);
      return;
    }
    closeAfter(res);
    sendJson(res, 413, { error: `request body too large (over ${MAX_BODY} bytes)` });
  });

  // Idle keep-alive connections stay open longer than any client keeps one idle (Node's agents and
  // the SDK's reuse a socket for a few seconds): with Node's default 5 s, a client reusing a socket
  // the server is closing that instant reads ECONNRESET, a fault of the emulator, not of the code
  // under test. Headers must still arrive within headersTimeout (longer, as Node requires).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  const port = options.port ?? sandboxPort(process.env, DEFAULT_PORT);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: a function firing thousands of requests at once (the seed tutorial's
    // Promise.all) should meet the quota model's answers, not refused connections.
    server.listen({ port, host, backlog: 4096 }, () => resolve());
  });
  const actualPort = (server.address() as AddressInfo).port;
  // A wildcard listener is reached at this machine's LAN address (what a phone and temp links use).
  baseUrl = publicUrl(host, actualPort);
  writeSession(dataDir, { url: baseUrl, token: policy.token });

  return {
    url: baseUrl,
    port: actualPort,
    env,
    dataDir,
    logFile,
    token: policy.token,
    secrets,
    environment,
    cloudApi: {
      url: `${baseUrl}/tcloud`,
      secretId: secrets.cloudApiSecretId,
      secretKey: secrets.cloudApiSecretKey,
      envId: env,
      region: REGION,
      bucket: storage.bucket,
    },
    db,
    storage,
    tcb,
    wechat,
    functions,
    clock,
    invoke,
    async stop() {
      wechat.close();
      await functions.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      db.close();
      removeSession(dataDir, baseUrl);
    },
  };
}

/** Where the sandbox is reached: a wildcard listener at this machine's LAN address (a phone, temp links). */
function publicUrl(host: string, port: number): string {
  const publicHost = host === '0.0.0.0' || host === '::' ? (lanAddress() ?? '127.0.0.1') : host;
  return `http://${publicHost.includes(':') && !publicHost.startsWith('[') ? `[${publicHost}]` : publicHost}:${port}`;
}

/** What the guard looks at: Host, Origin, the path, the token (header, or query for the SDK's endpoint). */
function guardRequest(req: http.IncomingMessage, path: string, url: URL): GuardRequest {
  const header = req.headers[TOKEN_HEADER];
  return {
    host: req.headers.host,
    origin: typeof req.headers.origin === 'string' ? req.headers.origin : undefined,
    path,
    token: (typeof header === 'string' ? header : undefined) ?? url.searchParams.get(TOKEN_QUERY) ?? undefined,
  };
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<void>;

function send(res: http.ServerResponse, answer: { status: number; body: unknown }): void {
  sendJson(res, answer.status, answer.body);
}

function listFunctions(environment: Environment): string[] {
  return environment.functionNames();
}

/** The caller a request names (X-WX-OPENID), when it is a plausible openid. */
function callerOf(req: http.IncomingMessage): string | undefined {
  const openid = String(req.headers['x-wx-openid'] ?? '');
  return /^[\w-]{1,64}$/.test(openid) ? openid : undefined;
}
