/**
 * WeChat Pay real-name authorization end to end: the real `realname` function (real SDK) signs with
 * the sandbox merchant's private key, the emulator checks the signature and encrypts name (GB18030)
 * and ID under the merchant's public key, the function decrypts and binds.
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import crypto from 'crypto';
import fs from 'fs';
import type { Sandbox } from '../../sandbox';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { freshSandbox, keyedHashOf, openidHashOf, post, stopExpectingNoPlaintext } from '../helpers/sandbox';

jest.setTimeout(120_000);

const PEOPLE = {
  plain: { name: '张三', idCardNumber: makeIdCard('440106', '19900101', '123') },
  dotted: { name: '买买提·吐尔逊', idCardNumber: makeIdCard('650102', '19851120', '457') },
  // 𠮷 (U+20BB7) and 䶮 (U+4DAE) are outside GBK: GB18030 four-byte sequences.
  rare: { name: '𠮷䶮', idCardNumber: makeIdCard('320102', '19771203', '248') },
  x: { name: '王五', idCardNumber: '11010519491231002X' },
};

let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await freshSandbox();
});

// Nothing the sandbox persisted (database journal, storage, function logs) holds a name or number.
afterAll(() => stopExpectingNoPlaintext(sandbox, Object.values(PEOPLE)));

const realname = (openid: string, event: Record<string, unknown>, target = sandbox) =>
  post(target, '/gateway/functions/realname', event, { 'X-WX-OPENID': openid }).then((r) => r.body);

async function authorize(
  openid: string,
  person: { name: string; idCardNumber: string },
  scenario = 'ok',
  target = sandbox,
) {
  const res = await post(target, '/sandbox/realname/authorize', { openid, ...person, scenario });
  expect(res.status).toBe(200);
  return String(res.body.auth_token);
}

describe('realname.fetch', () => {
  it.each(Object.entries(PEOPLE))('decrypts and binds a verified identity (%s)', async (label, person) => {
    const openid = `o_rn_${label}`;
    const authToken = await authorize(openid, person);
    const res = await realname(openid, { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken });
    const chars = Array.from(person.name);
    expect(res).toEqual({
      ok: true,
      binding: {
        method: 'wxpay',
        docType: 'id_card',
        maskedName: chars[0] + '*'.repeat(chars.length - 1),
        maskedIdCard: `${person.idCardNumber.slice(0, 4)}**********${person.idCardNumber.slice(-4)}`,
        verifiedAt: expect.any(String),
        inRoster: false,
      },
    });
    // The binding the index page reads (face.status lists every method).
    const status = await post(sandbox, '/gateway/functions/face', { action: 'status' }, { 'X-WX-OPENID': openid });
    expect(status.body).toMatchObject({ ok: true, bindings: [{ method: 'wxpay' }] });
  });

  it('refuses a reused auth_token, storing only its hash', async () => {
    const authToken = await authorize('o_rn_reuse', PEOPLE.plain);
    expect(
      await realname('o_rn_reuse', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({ ok: true });
    expect(
      await realname('o_rn_reuse', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({
      ok: false,
      code: 'REALNAME_TOKEN_USED',
    });
    const used = sandbox.db.dump('used_tokens');
    // A keyed hash: the plain SHA-256 of the token (what a reader could compute) is not there.
    expect(
      used.some((d) => d._id === `realname_${keyedHashOf(sandbox, 'oneTimeToken', `realname\0${authToken}`)}`),
    ).toBe(true);
    expect(JSON.stringify(used)).not.toContain(crypto.createHash('sha256').update(authToken).digest('hex'));
    expect(JSON.stringify(used)).not.toContain(authToken);
  });

  it.each([
    ['no_wxpay', 'REALNAME_NO_WXPAY'],
    ['no_realname', 'REALNAME_NO_INFO'],
  ])('maps the %s refusal to %s', async (scenario, code) => {
    const authToken = await authorize('o_rn_refused', PEOPLE.plain, scenario);
    expect(
      await realname('o_rn_refused', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({ ok: false, code });
  });

  it.each(['garbled', 'foreign_key', 'bad_id'])(
    'answers one generic error and stores nothing when decryption or validation fails (%s)',
    async (scenario) => {
      const openid = `o_rn_${scenario}`;
      const authToken = await authorize(openid, PEOPLE.dotted, scenario);
      expect(await realname(openid, { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken })).toEqual({
        ok: false,
        code: 'REALNAME_DECRYPT_FAILED',
        message: '实名信息处理失败，请稍后重试',
      });
      expect(sandbox.db.dump('bindings').filter((b) => b.openidHash === openidHashOf(sandbox, openid))).toEqual([]);
    },
  );

  it.each([
    [94001, 'REALNAME_MERCHANT_CONFIG'],
    [94002, 'REALNAME_NO_WXPAY'],
    [94003, 'REALNAME_MERCHANT_CONFIG'],
    [94004, 'REALNAME_NO_INFO'],
    [94005, 'REALNAME_TOKEN_INVALID'],
    [94006, 'REALNAME_NOT_AUTHORIZED'],
    [94007, 'REALNAME_NOT_AUTHORIZED'],
    [94008, 'REALNAME_MERCHANT_CONFIG'],
    [94009, 'REALNAME_MERCHANT_CONFIG'],
    [94010, 'REALNAME_MERCHANT_CONFIG'],
  ])('maps WeChat errcode %i to %s', async (errcode, code) => {
    const caller = `o_rn_codes_${errcode}`; // one caller per code: each stays under the per-caller limit
    const authToken = await authorize(caller, PEOPLE.plain);
    await post(sandbox, '/sandbox/faults', { path: '/cgi-bin/wxopen/getrealnameinfo', errcode, times: 1 });
    const res = await realname(caller, { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken });
    expect(res).toMatchObject({ ok: false, code });
    expect(String(res.message)).toMatch(/[\u4e00-\u9fa5]/);
  });

  it('a database failure while reserving the auth_token refuses before calling WeChat, and the token stays usable', async () => {
    const path = '/cgi-bin/wxopen/getrealnameinfo';
    const authToken = await authorize('o_rn_dbfault', PEOPLE.plain);
    const calls = sandbox.wechat.stats()[path] ?? 0;
    await post(sandbox, '/sandbox/db/faults', { action: 'database.insertDocument', collection: 'used_tokens' });
    expect(
      await realname('o_rn_dbfault', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({
      ok: false,
      code: 'INTERNAL',
    });
    expect(sandbox.wechat.stats()[path] ?? 0).toBe(calls);
    expect(
      await realname('o_rn_dbfault', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({ ok: true });
  });

  it('refuses an unknown auth_token with 94005 from WeChat', async () => {
    expect(
      await realname('o_rn_x', {
        action: 'fetch',
        noticeVersion: noticeVersion('wxpay'),
        authToken: 'not-a-real-token-123',
      }),
    ).toMatchObject({
      ok: false,
      code: 'REALNAME_TOKEN_INVALID',
    });
    expect(await realname('o_rn_x', { action: 'fetch', noticeVersion: noticeVersion('wxpay') })).toMatchObject({
      ok: false,
      code: 'INVALID_REQUEST',
    });
  });

  it('reports a stale timestamp (function clock 15 minutes behind) as a merchant configuration error', async () => {
    const authToken = await authorize('o_rn_clock', PEOPLE.plain);
    await post(sandbox, '/sandbox/clock', { functionSkewSeconds: -900 });
    try {
      expect(
        await realname('o_rn_clock', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
      ).toMatchObject({
        ok: false,
        code: 'REALNAME_MERCHANT_CONFIG',
      });
      expect(fs.readFileSync(sandbox.logFile, 'utf8')).toMatch(/getrealnameinfo failed: errcode 94008/);
    } finally {
      await post(sandbox, '/sandbox/clock', { functionSkewSeconds: 0 });
    }
  });

  it('retries -1 and refetches the token on 40001; a busy WeChat leaves the auth_token usable', async () => {
    const path = '/cgi-bin/wxopen/getrealnameinfo';
    const authToken = await authorize('o_rn_faults', PEOPLE.x);
    await post(sandbox, '/sandbox/faults', { path, errcode: -1, times: 3 });
    expect(
      await realname('o_rn_faults', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({
      ok: false,
      code: 'WECHAT_BUSY',
    });
    await post(sandbox, '/sandbox/faults', { path, errcode: 40001, times: 1 });
    expect(
      await realname('o_rn_faults', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }),
    ).toMatchObject({ ok: true });
  });

  it('lists the categories for the button', async () => {
    const res = await realname('o_rn_cat', { action: 'categories' });
    expect(res.ok).toBe(true);
    expect(res.categories).toContainEqual({
      firstClass: '政务民生',
      secondClass: '政务服务',
      firstId: 99,
      secondId: 904,
    });
  });
});

describe('deployed timeout', () => {
  it('logs once, naming the setting, when the deployed timeout is below the manifest (20 s)', async () => {
    const short = await freshSandbox({ functionTimeouts: { realname: 10 } });
    try {
      for (let i = 0; i < 2; i += 1) {
        expect(await realname('o_rn_timeout', { action: 'categories' }, short)).toMatchObject({ ok: true });
      }
      const warnings = fs
        .readFileSync(short.logFile, 'utf8')
        .split('\n')
        .filter((line) => line.includes('function timeout is 10 s, below the 20 s realname is built for'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain('云开发控制台 → 云函数 → realname → 版本与配置');
    } finally {
      await short.stop();
    }
    // The suite's sandbox runs with the manifest's timeouts: no such line.
    expect(fs.readFileSync(sandbox.logFile, 'utf8')).not.toContain('function timeout is');
  });

  it('the platform kills an invocation at its timeout (the caller gets a gateway error, not an answer)', async () => {
    const short = await freshSandbox({ functionTimeouts: { realname: 1 } });
    try {
      // The categories request hangs longer than the 1 s timeout and the 5 s WeChat request timeout.
      await post(short, '/sandbox/faults', { path: '/wxa/get_category', latencyMs: 10_000, times: 1 });
      const res = await post(
        short,
        '/gateway/functions/realname',
        { action: 'categories' },
        { 'X-WX-OPENID': 'o_rn_kill' },
      );
      expect(res.status).toBe(502);
      expect(String(res.body.error)).toBe('Task timed out after 1 seconds');
    } finally {
      await short.stop();
    }
  });
});

describe('merchant configuration', () => {
  it('refuses a wrong private key (bad signature) and names missing settings in the log', async () => {
    const other = crypto
      .generateKeyPairSync('rsa', { modulusLength: 2048 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' });
    const wrong = await freshSandbox({ functionEnv: { WXPAY_PRIVATE_KEY: String(other) } });
    const missing = await freshSandbox({ functionEnv: { WXPAY_MCH_ID: '', WXPAY_PRIVATE_KEY: '' } });
    try {
      const authToken = await authorize('o_rn_wrongkey', PEOPLE.plain, 'ok', wrong);
      expect(
        await realname('o_rn_wrongkey', { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken }, wrong),
      ).toMatchObject({
        ok: false,
        code: 'REALNAME_MERCHANT_CONFIG',
      });
      expect(wrong.wechat.stats()['/cgi-bin/wxopen/getrealnameinfo']).toBe(1);
      expect(fs.readFileSync(wrong.logFile, 'utf8')).toMatch(/getrealnameinfo failed: errcode 94003/);

      const token2 = await authorize('o_rn_missing', PEOPLE.plain, 'ok', missing);
      expect(
        await realname(
          'o_rn_missing',
          { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken: token2 },
          missing,
        ),
      ).toMatchObject({
        ok: false,
        code: 'NOT_CONFIGURED',
      });
      const log = fs.readFileSync(missing.logFile, 'utf8');
      expect(log).toMatch(/WXPAY_MCH_ID/);
      expect(log).toMatch(/WXPAY_PRIVATE_KEY/);
      expect(log).not.toContain('BEGIN');
      // Categories need no merchant.
      expect(await realname('o_rn_missing', { action: 'categories' }, missing)).toMatchObject({ ok: true });
    } finally {
      await wrong.stop();
      await missing.stop();
    }
  });
});
