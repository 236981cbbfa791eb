/**
 * Operator calls (a PC with the Tencent Cloud API key and OPERATOR_KEY, no OPENID): the CLI's cloud
 * transport (the real wx-server-sdk, pointed at the sandbox's TCB endpoint) imports a roster end to
 * end as an operator, and every way such a call can be wrong is refused with its own code, audited,
 * nothing written. Also: roster.import reads only an upload reserveUpload named.
 */
import { spawn } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { Sandbox } from '../../sandbox';
import { deploySandbox } from '../../scripts/lib/sandbox-deploy';
import { cloudTransport } from '../../scripts/lib/function-transport';
import { COLLECTION } from '../../server/manifest';
import { signOperatorCall } from '../../server/core/operator';
import { cleanRoster, person, rowErrors } from '../fixtures/roster/generate';
import {
  callFunction,
  freshSandbox,
  keyedHashOf,
  persistedText,
  stopExpectingNoPlaintext,
  uploadFile,
} from '../helpers/sandbox';

jest.setTimeout(300_000);

const KEY = crypto.randomBytes(32);
const OPERATOR_KEY = KEY.toString('base64');
const ADMIN = 'o_operator_test_admin';
const ROOT = path.resolve(__dirname, '../..');
/** The API key the CLI is given (the sandbox's /admin, like a function's, does not check it). */
const SECRET_ID = 'AKIDoperatortest0000';
const SECRET_KEY = crypto.randomBytes(24).toString('base64url');

let sandbox: Sandbox;
let dir: string;
const people = Array.from({ length: 60 }, (_, i) => person(i));

beforeAll(async () => {
  sandbox = await freshSandbox({ functionEnv: { OPERATOR_KEY, ROSTER_ADMIN_OPENIDS: ADMIN } });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'operator-cli-'));
});

afterAll(async () => {
  fs.rmSync(dir, { recursive: true, force: true });
  const text = persistedText(sandbox);
  // Neither key reached the logs or the database (the functions get OPERATOR_KEY, and say nothing of it).
  expect(text).not.toContain(SECRET_KEY);
  expect(text.split(OPERATOR_KEY).length - 1).toBeLessThanOrEqual(countInEnvironment(sandbox));
  await stopExpectingNoPlaintext(
    sandbox,
    people.map((p) => ({ name: p.name, idCardNumber: p.idCard })),
  );
});

/**
 * The deployed environment (functions' settings) holds the key by design; nothing else may
 * (persistedText holds each file twice: as latin1 and as UTF-8).
 */
function countInEnvironment(s: Sandbox): number {
  const file = path.join(s.dataDir, 'environment.json');
  return fs.existsSync(file) ? 2 * (fs.readFileSync(file, 'utf8').split(OPERATOR_KEY).length - 1) : 0;
}

/** A call the way the server SDK makes it: the TCB protocol's functions.invokeFunction, no OPENID. */
async function invoke(target: Sandbox, fn: string, event: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(`${target.url}/admin?env=${target.env}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      action: 'functions.invokeFunction',
      function_name: fn,
      request_data: JSON.stringify(event),
    }),
  });
  const body = (await res.json()) as { data?: { response_data: string }; code?: string; message?: string };
  if (!body.data) throw new Error(`invokeFunction answered ${body.code}: ${body.message}`);
  return JSON.parse(body.data.response_data) as Record<string, unknown>;
}

/** An event signed as operator `id` with `key` (at `now`, for environment `env`). */
function signed(
  fn: string,
  event: Record<string, unknown>,
  key = KEY,
  id = 'tester',
  now = Date.now(),
  env = sandbox.env,
) {
  const { action, ...payload } = event;
  return { ...event, operator: signOperatorCall(key, { env, fn, action: String(action) }, id, payload, now) };
}

const audit = (s: Sandbox) => s.db.dump(COLLECTION.auditLog);

/** The CLI as `npm run roster` / `npm run rotate-keys` start it, against the sandbox's TCB endpoint. */
function cli(script: string, args: string[], env: Record<string, string> = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      [
        'scripts/run.js',
        script,
        ...args,
        '--cloud',
        '--env',
        sandbox.env,
        '--service-url',
        `${sandbox.url}/admin`,
        '--values-file',
        path.join(dir, 'absent.env'),
      ],
      {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? os.tmpdir(),
          INIT_CWD: dir,
          TENCENTCLOUD_SECRETID: SECRET_ID,
          TENCENTCLOUD_SECRETKEY: SECRET_KEY,
          OPERATOR_KEY,
          ...env,
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

function expectNoSecret(out: { stdout: string; stderr: string }) {
  for (const text of [out.stdout, out.stderr]) {
    expect(text).not.toContain(OPERATOR_KEY);
    expect(text).not.toContain(SECRET_KEY);
  }
}

describe('npm run roster -- import --cloud (an operator through the server SDK)', () => {
  it('imports a roster end to end, recorded as the operator, and leaves no upload behind', async () => {
    const file = path.join(dir, 'staff.xlsx');
    fs.writeFileSync(file, cleanRoster(50));
    const out = await cli('scripts/roster.ts', ['import', 'staff.xlsx', '--operator', 'alice']);
    expectNoSecret(out);
    expect(out.stderr).toMatch(/jobId: [0-9a-f]{24}/);
    expect(out).toMatchObject({ code: 0 });
    expect(out.stdout).toContain('导入完成：共 50 行，新增 50');

    expect(sandbox.db.dump(COLLECTION.roster)).toHaveLength(50);
    const acting = keyedHashOf(sandbox, 'openid', 'operator:alice');
    const jobs = sandbox.db.dump(COLLECTION.rosterJobs);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ createdBy: acting });
    const entries = audit(sandbox).filter((e) => e.actorHash === acting);
    expect(entries.map((e) => e.action)).toEqual(
      expect.arrayContaining(['roster.reserveUpload', 'roster.import', 'roster.status']),
    );
    expect(entries.every((e) => e.operator === true && e.outcome === 'ok')).toBe(true);
    expect(sandbox.storage.list().filter((f) => f.startsWith('roster-uploads/'))).toEqual([]);
    // Each call spent its nonce, under a keyed hash (never the nonce itself).
    const nonces = sandbox.db.dump(COLLECTION.usedTokens).filter((t) => t.kind === 'operatorNonce');
    expect(nonces.length).toBe(entries.length);
    expect(nonces.every((t) => /^operatorNonce_[0-9a-f]{64}$/.test(String(t._id)))).toBe(true);
  });

  it('saves the error report next to the file (downloaded through its link) and exits 1 when rows failed', async () => {
    const file = path.join(dir, 'errors.xlsx');
    fs.writeFileSync(file, rowErrors(10));
    const out = await cli('scripts/roster.ts', ['import', 'errors.xlsx', '--operator', 'bob', '--json']);
    expectNoSecret(out);
    expect(out.code).toBe(1);
    const result = JSON.parse(out.stdout) as { failed: number; report: string };
    expect(result.failed).toBeGreaterThan(0);
    expect(result.report).toBe(path.join(dir, 'errors.errors.xlsx'));
    expect(fs.readFileSync(result.report).subarray(0, 2).toString()).toBe('PK');
  });

  it('says what is missing, naming no value: no API key, no OPERATOR_KEY, a malformed one', async () => {
    const noKey = await cli('scripts/roster.ts', ['import', 'x.xlsx'], { TENCENTCLOUD_SECRETKEY: '' });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY');
    const noOperatorKey = await cli('scripts/roster.ts', ['import', 'x.xlsx'], { OPERATOR_KEY: '' });
    expect(noOperatorKey.code).toBe(1);
    expect(noOperatorKey.stderr).toContain('--cloud needs OPERATOR_KEY');
    const malformed = await cli('scripts/rotate-keys.ts', ['--status'], { OPERATOR_KEY: 'c2hvcnQ=' });
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain('OPERATOR_KEY must be base64 of exactly 32 random bytes');
    expect(malformed.stderr).not.toContain('c2hvcnQ=');
  });

  it('the CLI signed with another key is refused (OPERATOR_SIGNATURE_INVALID) and imports nothing', async () => {
    const before = sandbox.db.dump(COLLECTION.rosterJobs).length;
    fs.writeFileSync(path.join(dir, 'wrong.xlsx'), cleanRoster(5));
    const out = await cli('scripts/roster.ts', ['import', 'wrong.xlsx'], {
      OPERATOR_KEY: crypto.randomBytes(32).toString('base64'),
    });
    expect(out.code).toBe(1);
    expect(out.stderr).toContain('OPERATOR_SIGNATURE_INVALID');
    expect(sandbox.db.dump(COLLECTION.rosterJobs)).toHaveLength(before);
  });

  it('npm run rotate-keys -- --cloud --status reads the rotation as an operator', async () => {
    const out = await cli('scripts/rotate-keys.ts', ['--status', '--operator', 'carol']);
    expectNoSecret(out);
    expect(out.stdout).toMatch(/^keys \S+: (done|running|blocked|idle)/m);
    const acting = keyedHashOf(sandbox, 'openid', 'operator:carol');
    expect(audit(sandbox).filter((e) => e.actorHash === acting)).toEqual([
      expect.objectContaining({ action: 'admin.rotationStatus', outcome: 'ok', operator: true }),
    ]);
  });
});

describe('operator refusals (the server SDK protocol, no OPENID)', () => {
  it('an unsigned call without OPENID is refused as before (FORBIDDEN)', async () => {
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/unsigned.csv', Buffer.from('姓名,身份证号\n'));
    expect(await invoke(sandbox, 'roster', { action: 'import', fileID })).toMatchObject({
      ok: false,
      code: 'FORBIDDEN',
    });
  });

  it('a wrong signature, a changed payload, another environment, an old or future time, a replayed nonce: each its code, audited', async () => {
    const refusedBefore = audit(sandbox).filter((e) => e.operator === true && e.outcome !== 'ok').length;
    const other = crypto.randomBytes(32);
    expect(await invoke(sandbox, 'roster', signed('roster', { action: 'template' }, other))).toMatchObject({
      ok: false,
      code: 'OPERATOR_SIGNATURE_INVALID',
    });
    // Signed for one payload, sent with another.
    const proof = signed('roster', { action: 'status', jobId: 'a'.repeat(24) });
    expect(await invoke(sandbox, 'roster', { ...proof, jobId: 'b'.repeat(24) })).toMatchObject({
      code: 'OPERATOR_SIGNATURE_INVALID',
    });
    // Signed for another function (or action).
    expect(
      await invoke(sandbox, 'roster', { ...signed('admin', { action: 'rotationStatus' }), action: 'template' }),
    ).toMatchObject({ code: 'OPERATOR_SIGNATURE_INVALID' });
    // Made for another environment the same OPERATOR_KEY serves: never runs here.
    expect(
      await invoke(sandbox, 'roster', signed('roster', { action: 'template' }, KEY, 'tester', Date.now(), 'other-env')),
    ).toMatchObject({ code: 'OPERATOR_SIGNATURE_INVALID' });
    const sixMinutes = 6 * 60_000;
    for (const at of [Date.now() - sixMinutes, Date.now() + sixMinutes]) {
      expect(
        await invoke(sandbox, 'roster', signed('roster', { action: 'template' }, KEY, 'tester', at)),
      ).toMatchObject({ code: 'OPERATOR_EXPIRED' });
    }
    const once = signed('roster', { action: 'template' });
    expect(await invoke(sandbox, 'roster', once)).toMatchObject({ ok: true });
    expect(await invoke(sandbox, 'roster', once)).toMatchObject({ ok: false, code: 'OPERATOR_REPLAYED' });
    // A malformed field is not looked at further.
    expect(
      await invoke(sandbox, 'roster', { action: 'template', operator: { ...once.operator, extra: 1 } }),
    ).toMatchObject({ code: 'INVALID_REQUEST' });

    const refused = audit(sandbox).filter((e) => e.operator === true && e.outcome !== 'ok');
    expect(refused.slice(refusedBefore).map((e) => e.outcome)).toEqual([
      'OPERATOR_SIGNATURE_INVALID',
      'OPERATOR_SIGNATURE_INVALID',
      'OPERATOR_SIGNATURE_INVALID',
      'OPERATOR_SIGNATURE_INVALID',
      'OPERATOR_EXPIRED',
      'OPERATOR_EXPIRED',
      'OPERATOR_REPLAYED',
      'INVALID_REQUEST',
    ]);
    expect(refused.at(-2)).toMatchObject({ actorHash: keyedHashOf(sandbox, 'openid', 'operator:tester') });
  });

  it('an operator field together with an OPENID is refused (OPERATOR_MIXED), even from an admin: the user’s own refusal', async () => {
    const event = signed('roster', { action: 'template' });
    expect(await callFunction(sandbox, 'roster', ADMIN, event)).toMatchObject({ ok: false, code: 'OPERATOR_MIXED' });
    const entry = audit(sandbox).at(-1)!;
    expect(entry).toMatchObject({
      action: 'roster.template',
      outcome: 'OPERATOR_MIXED',
      actorHash: keyedHashOf(sandbox, 'openid', ADMIN),
    });
    expect(entry.operator).toBeUndefined();
  });

  it('mixed calls from a user never fill the operators’ refusal count: a forged operator call after many is still audited', async () => {
    const user = 'o_operator_flooder';
    for (let i = 0; i < 35; i += 1) {
      const answer = await callFunction(sandbox, 'roster', user, { action: 'import', fileID: 'x', operator: {} });
      expect(answer).toMatchObject({ ok: false, code: 'OPERATOR_MIXED' });
    }
    // The user's own count stopped writing their refusals past its limit.
    expect(audit(sandbox).filter((e) => e.actorHash === keyedHashOf(sandbox, 'openid', user)).length).toBeLessThan(35);
    const before = audit(sandbox).length;
    const forged = signed('roster', { action: 'template' });
    (forged.operator as { sig: string }).sig = '0'.repeat((forged.operator as { sig: string }).sig.length);
    expect(await invoke(sandbox, 'roster', forged)).toMatchObject({ ok: false, code: 'OPERATOR_SIGNATURE_INVALID' });
    expect(audit(sandbox).slice(before)).toEqual([
      expect.objectContaining({ action: 'roster.template', outcome: 'OPERATOR_SIGNATURE_INVALID', operator: true }),
    ]);
  });

  it('the CLI’s transport passes on an action the contracts do not name (the function refuses it), never failing itself', async () => {
    const transport = cloudTransport({
      envId: sandbox.env,
      secretId: SECRET_ID,
      secretKey: SECRET_KEY,
      operatorKey: KEY,
      operatorId: 'tester',
      serviceUrl: `${sandbox.url}/admin`,
    });
    expect(await transport.call('roster', { action: 'noSuchAction' })).toMatchObject({
      ok: false,
      code: 'UNKNOWN_ACTION',
    });
    expect(await transport.call('roster', { action: 'toString' })).toMatchObject({ ok: false, code: 'UNKNOWN_ACTION' });
    expect(await transport.call('roster', { action: 'template' })).toMatchObject({ ok: true });
  });

  it('only the operator actions accept it: admin.lookup, admin.export, roster.access, face.status refuse', async () => {
    for (const [fn, event] of [
      ['admin', { action: 'lookup', idCardNumber: people[0]!.idCard }],
      ['admin', { action: 'export' }],
      ['roster', { action: 'access' }],
      ['face', { action: 'status' }],
    ] as const) {
      expect(await invoke(sandbox, fn, signed(fn, event))).toMatchObject({ ok: false, code: 'OPERATOR_NOT_ALLOWED' });
    }
    expect(audit(sandbox).some((e) => e.action === 'admin.lookup' && e.outcome === 'OPERATOR_NOT_ALLOWED')).toBe(true);
  });

  it('without OPERATOR_KEY deployed, operator calls are off (OPERATOR_DISABLED)', async () => {
    const off = await freshSandbox({ deploy: false });
    try {
      await deploySandbox(off, { only: ['roster'] });
      expect(await invoke(off, 'roster', signed('roster', { action: 'template' }))).toMatchObject({
        ok: false,
        code: 'OPERATOR_DISABLED',
      });
      expect(off.storage.list()).toEqual([]);
    } finally {
      await off.stop();
    }
  });
});

describe('roster.import reads only an upload reserveUpload named', () => {
  it('a file put under roster-uploads/ without a reservation is refused and deleted', async () => {
    const fileID = await uploadFile(sandbox, ADMIN, 'roster-uploads/not-reserved.xlsx', cleanRoster(3), {
      reserve: false,
    });
    expect(await callFunction(sandbox, 'roster', ADMIN, { action: 'import', fileID })).toMatchObject({
      ok: false,
      code: 'ROSTER_UPLOAD_NOT_RESERVED',
    });
    expect(sandbox.storage.exists('roster-uploads/not-reserved.xlsx')).toBe(false);
  });

  it('a reserved place past its window is refused too', async () => {
    const reserved = await callFunction(sandbox, 'roster', ADMIN, { action: 'reserveUpload', fileName: 'late.xlsx' });
    const fileID = await uploadFile(sandbox, ADMIN, String(reserved.cloudPath), cleanRoster(3));
    // The sweep's record of it falls due (as two hours later).
    const pending = sandbox.db
      .dump(COLLECTION.pendingCleanup)
      .find((d) => d._id === keyedHashOf(sandbox, 'pendingCleanup', fileID));
    expect(pending).toBeDefined();
    sandbox.db.modify(
      COLLECTION.pendingCleanup,
      { _id: pending!._id },
      { $set: { lastFailedAt: new Date(Date.now() - 1000) } },
      {
        multi: false,
        merge: true,
        upsert: false,
      },
    );
    expect(await callFunction(sandbox, 'roster', ADMIN, { action: 'import', fileID })).toMatchObject({
      code: 'ROSTER_UPLOAD_NOT_RESERVED',
    });
  });
});
