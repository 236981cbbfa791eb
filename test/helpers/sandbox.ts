/**
 * Test helpers: a fresh sandbox per suite (own data dir, free port) and the real wx-server-sdk
 * pointed at it, configured exactly as the sandbox configures its function processes.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../sandbox';
import { functionEnv } from '../../sandbox/secrets';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import { blindIndex, decryptField } from '../../server/core/pii';
import { rosterAad, type RosterPii } from '../../server/lib/roster-record';
import { loadPiiKeys } from '../../server/lib/settings';
import { noticeVersion } from '../../miniprogram/shared/consent';
import { ROSTER_UPLOAD_PREFIX } from '../../miniprogram/shared/contracts';
import { UPLOAD_WINDOW_MS } from '../../server/core/roster/upload-path';
import { pendingRecord, UPLOAD_RESERVED } from '../../server/lib/cleanup';
import { COLLECTION } from '../../server/manifest';

export interface FreshSandboxOptions extends SandboxOptions {
  /** Variable values over the sandbox's own, deployed to every function (e.g. FACE_API_VERSION=v1). */
  functionEnv?: Record<string, string>;
  /** Timeouts (seconds) other than the manifest's (fault tests: a slice killed mid-way). */
  functionTimeouts?: Record<string, number>;
  /** Configure it with the deploy (default); false leaves it blank, as a team that skipped the deploy. */
  deploy?: boolean;
}

/**
 * A sandbox on a free port with its own temporary data dir, removed again by `stop()`, configured
 * by the real deploy code (scripts/lib/sandbox-deploy.ts) through its management API.
 */
export async function freshSandbox(options: FreshSandboxOptions = {}): Promise<Sandbox> {
  const { functionEnv, functionTimeouts, deploy = true, ...sandboxOptions } = options;
  const dataDir = sandboxOptions.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-test-'));
  const sandbox = await startSandbox({ port: 0, ...sandboxOptions, dataDir });
  const stop = sandbox.stop.bind(sandbox);
  sandbox.stop = async () => {
    await stop();
    if (!sandboxOptions.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  };
  if (deploy) {
    try {
      await deploySandbox(sandbox, { env: functionEnv, timeouts: functionTimeouts });
    } catch (err) {
      await sandbox.stop();
      throw err;
    }
  }
  return sandbox;
}

type Sdk = typeof import('wx-server-sdk');

/**
 * What @cloudbase/node-sdk (inside wx-server-sdk) prints for every request still running after 3 s
 * (dist/utils/tcbapirequester.js setSlowWarning(3000)): on a loaded machine a note about the
 * machine, not the code, so a passing run under load would print dozens. Every other warning
 * passes through.
 */
const SLOW_REQUEST_NOTE = /^\[TCB\]\[WARN\] Your current request \S* ?is longer than 3s/;
let slowNotesDropped = false;
function dropSlowRequestNotes(): void {
  if (slowNotesDropped) return;
  slowNotesDropped = true;
  const warn = console.warn.bind(console);
  console.warn = (...args: unknown[]) => {
    if (!(args.length === 1 && typeof args[0] === 'string' && SLOW_REQUEST_NOTE.test(args[0]))) warn(...args);
  };
}

/**
 * The real SDK in this process, talking to `sandbox` as `openid`. The SDK reads its endpoint and
 * the caller from process env on every call, so a suite uses one sandbox at a time.
 */
export function sdkFor(sandbox: Sandbox, openid = 'o_test_user'): Sdk {
  Object.assign(process.env, functionEnv(sandbox.secrets, sandbox.env, sandbox.url), {
    WX_OPENID: openid,
    WX_APPID: sandbox.secrets.appid,
  });
  dropSlowRequestNotes();
  let sdk: Sdk | undefined;
  jest.isolateModules(() => {
    sdk = require('wx-server-sdk') as Sdk;
  });
  // The SDK gives up on a request after `timeout` ms, 15 s unless set (wx-server-sdk 4.0.2 passes
  // init's config to @cloudbase/node-sdk: `timeout: timeout || 15000` in dist/cloudbase.js). A
  // request to a sandbox in this very process can wait that long on a loaded machine (a load of 10
  // on 2 cores) and fail a test about something else; jest's own timeout still ends a hang. (The
  // typings leave `timeout` out; the code reads it.)
  const config = { env: sdk!.DYNAMIC_CURRENT_ENV as unknown as string, timeout: 60_000 };
  sdk!.init(config);
  return sdk!;
}

/**
 * Every byte the sandbox persisted (database journal, storage, logs, environment) as one string, for
 * PII scans. Not the deployed function code (`functions/`: the bundles, which hold no person's data).
 */
export function persistedText(sandbox: Sandbox): string {
  const parts: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const file = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (file !== sandbox.environment.codeRoot) walk(file);
      } else if (entry.name !== 'secrets.json')
        parts.push(fs.readFileSync(file).toString('latin1'), fs.readFileSync(file, 'utf8'));
    }
  };
  walk(sandbox.dataDir);
  return parts.join('\n');
}

/** Stops the sandbox; nothing it persisted may hold any of these people's names or ID numbers. */
export async function stopExpectingNoPlaintext(
  sandbox: Sandbox,
  people: Iterable<{ name: string; idCardNumber: string }>,
): Promise<void> {
  const text = persistedText(sandbox);
  await sandbox.stop();
  for (const person of people) {
    expect(text).not.toContain(person.name);
    expect(text).not.toContain(person.idCardNumber);
  }
}

export async function post(sandbox: Sandbox, route: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${sandbox.url}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The PII keys the sandbox's functions run with. */
export function piiKeysOf(sandbox: Sandbox) {
  return loadPiiKeys({ PII_ENC_KEY: sandbox.secrets.piiEncKey, PII_INDEX_KEY: sandbox.secrets.piiIndexKey });
}

/** The blind index under which the sandbox's functions store `openid` (to find its documents). */
export function openidHashOf(sandbox: Sandbox, openid: string): string {
  return blindIndex(piiKeysOf(sandbox), 'openid', openid);
}

/** A keyed hash (blind index of `kind`) as the sandbox's functions compute it. */
export function keyedHashOf(sandbox: Sandbox, kind: string, value: string): string {
  return blindIndex(piiKeysOf(sandbox), kind, value);
}

/** What a roster document holds, decrypted with the sandbox's keys (the way a function reads it). */
export function rosterFieldsOf(sandbox: Sandbox, doc: { _id: string; piiEnc?: unknown }): RosterPii {
  return JSON.parse(decryptField(piiKeysOf(sandbox), String(doc.piiEnc), rosterAad(doc._id))) as RosterPii;
}

/** A function called through the sandbox gateway as `openid` (what the mini-program's callFunction does): the answer's body. */
export function callFunction(
  sandbox: Sandbox,
  name: string,
  openid: string,
  event: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  return post(sandbox, `/gateway/functions/${name}`, event, { 'X-WX-OPENID': openid }).then((r) => r.body);
}

/**
 * The WeChat Pay consent page: WeChat knows `openid` as `known` (or, without it, as nobody) and hands
 * back the authorization code a realname check takes.
 */
export async function citycheckCode(
  sandbox: Sandbox,
  openid: string,
  known?: { name: string; idCardNumber: string },
): Promise<string> {
  const res = await post(sandbox, '/sandbox/citycheck/authorize', {
    openid,
    ...(known ?? { scenario: 'no_realname' }),
  });
  if (res.status !== 200) throw new Error(`citycheck authorize answered ${res.status}: ${JSON.stringify(res.body)}`);
  return String(res.body.code);
}

type Person = { name: string; idCardNumber: string };

/** face.start through the gateway, consenting to the current notice: the answer. */
export function faceStart(sandbox: Sandbox, openid: string, person: Person): Promise<Record<string, unknown>> {
  return callFunction(sandbox, 'face', openid, {
    action: 'start',
    ...person,
    consent: true,
    noticeVersion: noticeVersion('face'),
  });
}

/** A face verification through the gateway: start, the user passes in the sandbox's face UI, confirm: confirm's answer. */
export async function faceVerify(sandbox: Sandbox, openid: string, person: Person): Promise<Record<string, unknown>> {
  const started = await faceStart(sandbox, openid, person);
  if (started.ok !== true) throw new Error(`face.start answered ${JSON.stringify(started)}`);
  await post(sandbox, '/sandbox/face/complete', { openid, verifyId: started.verifyId, outcome: 'pass' });
  return callFunction(sandbox, 'face', openid, { action: 'confirm', verifyId: started.verifyId });
}

/** A city-service check through the gateway with `code` (default: a fresh one for `person`): the answer. */
export async function cityCheck(
  sandbox: Sandbox,
  openid: string,
  person: Person,
  code?: string,
): Promise<Record<string, unknown>> {
  return callFunction(sandbox, 'realname', openid, {
    action: 'check',
    ...person,
    code: code ?? (await citycheckCode(sandbox, openid, person)),
    consent: true,
    noticeVersion: noticeVersion('wxcheck'),
  });
}

/**
 * Puts `content` at `cloudPath` in the sandbox's storage as `openid` (what the page's upload does): its
 * fileID. A roster upload at a path of the test's choosing is also reserved, as `roster.reserveUpload`
 * reserves the path it names (its deletion scheduled in `pending_cleanup`, which `roster.import`
 * checks), unless `reserve: false` (a test of that check).
 */
export async function uploadFile(
  sandbox: Sandbox,
  openid: string,
  cloudPath: string,
  content: Buffer,
  options: { reserve?: boolean } = {},
): Promise<string> {
  const res = await fetch(`${sandbox.url}/sandbox/storage/upload?cloudPath=${encodeURIComponent(cloudPath)}`, {
    method: 'POST',
    headers: { 'X-WX-OPENID': openid },
    body: content,
  });
  const fileID = String(((await res.json()) as { fileID: string }).fileID);
  if (cloudPath.startsWith(ROSTER_UPLOAD_PREFIX) && options.reserve !== false) reserveUpload(sandbox, fileID);
  return fileID;
}

/** Schedules `fileID`'s deletion as `roster.reserveUpload` does (UPLOAD_WINDOW_MS ahead): a reserved upload. */
export function reserveUpload(sandbox: Sandbox, fileID: string): void {
  const record = pendingRecord(piiKeysOf(sandbox), fileID, UPLOAD_RESERVED, {
    attempts: 0,
    lastFailedAt: new Date(Date.now() + UPLOAD_WINDOW_MS),
  });
  sandbox.db.remove(COLLECTION.pendingCleanup, { _id: record._id }, false);
  sandbox.db.insert(COLLECTION.pendingCleanup, [{ ...record }]);
}

/** Imports an uploaded roster as `admin` and drives the job (at most 20 slices): its last status. */
export async function importRoster(sandbox: Sandbox, admin: string, fileID: string): Promise<Record<string, unknown>> {
  const started = await callFunction(sandbox, 'roster', admin, { action: 'import', fileID });
  if (started.ok !== true) throw new Error(`roster.import answered ${JSON.stringify(started)}`);
  let status = await callFunction(sandbox, 'roster', admin, { action: 'status', jobId: started.jobId });
  for (let i = 0; i < 20 && status.state === 'running'; i += 1) {
    status = await callFunction(sandbox, 'roster', admin, { action: 'run', jobId: started.jobId });
  }
  return status;
}

/**
 * Waits until `predicate` holds, checking every `intervalMs`: for something the sandbox does on its
 * own (a push, a job's progress). The bound is generous (a loaded machine is slow, never wrong);
 * jest's own timeout still applies.
 */
export async function until(predicate: () => boolean, timeoutMs = 90_000, intervalMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`until: not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
