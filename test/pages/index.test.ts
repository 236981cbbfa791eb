/**
 * The home page against a real sandbox: the caller's bindings from face.status (after real
 * verifications through the face and realname functions), the methods the server offers
 * (identity.methods), the sandbox notice, and the connection check.
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import { config } from '../../miniprogram/config';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { maskIdCard } from '../../miniprogram/shared/mask';
import { httpExchange, installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const CAROL = { name: '欧阳娜娜', idCardNumber: makeIdCard('440106', '19900307', '123') };
const DAVE = { name: '买买提·吐尔逊', idCardNumber: makeIdCard('650102', '19851120', '457') };

const ADMIN = 'o_index_admin';

let sandbox: SandboxProcess;
let openidSeq = 0;
const device = wx as unknown as Record<string, unknown>;

beforeAll(async () => {
  sandbox = await startSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN } });
  config.mode = 'sandbox';
  config.sandboxUrl = sandbox.url;
  await importRoster([CAROL]);
});
afterAll(async () => {
  const { persistedText } = await sandbox.stop();
  for (const person of [CAROL, DAVE]) {
    expect(persistedText).not.toContain(person.idCardNumber);
    expect(persistedText).not.toContain(person.name);
  }
});
beforeEach(() => {
  installBridge();
  config.sandboxUrl = sandbox.url;
  openidSeq += 1;
  config.sandboxOpenid = `o_index_page_${openidSeq}`;
});

/** An admin imports a roster (a CSV in the roster upload area), driving the job to its end. */
async function importRoster(people: { name: string; idCardNumber: string }[]): Promise<void> {
  const csv = ['姓名,身份证号', ...people.map((p) => `${p.name},${p.idCardNumber}`)].join('\r\n');
  const roster = (event: Record<string, unknown>) =>
    postJson('/gateway/functions/roster', event, { 'X-WX-OPENID': ADMIN }).then((r) => r.body);
  // Where the function says (roster.import reads only a place reserveUpload named).
  const { cloudPath } = await roster({ action: 'reserveUpload', fileName: 'index-page.csv' });
  const upload = await httpExchange(
    `${sandbox.url}/sandbox/storage/upload?cloudPath=${encodeURIComponent(String(cloudPath))}`,
    'POST',
    { 'content-type': 'text/csv', 'X-WX-OPENID': ADMIN },
    csv,
  );
  const { fileID } = JSON.parse(upload.text) as { fileID: string };
  const { jobId } = await roster({ action: 'import', fileID });
  let status = await roster({ action: 'status', jobId });
  for (let i = 0; i < 20 && status.state === 'running'; i += 1) status = await roster({ action: 'run', jobId });
  expect(status).toMatchObject({ state: 'done', inserted: people.length });
}

/** The caller verifies by face (what the face-verify page does, straight through the gateway). */
async function verifyByFace(person: { name: string; idCardNumber: string }): Promise<void> {
  const headers = { 'X-WX-OPENID': config.sandboxOpenid };
  const started = await postJson(
    '/gateway/functions/face',
    { action: 'start', ...person, consent: true, noticeVersion: noticeVersion('face') },
    headers,
  );
  const verifyId = String(started.body.verifyId);
  await postJson('/sandbox/face/complete', { openid: config.sandboxOpenid, verifyId, outcome: 'pass' });
  const confirmed = await postJson('/gateway/functions/face', { action: 'confirm', verifyId }, headers);
  expect(confirmed.body).toMatchObject({ ok: true });
}

/** …and through WeChat Pay's real-name authorization. */
async function verifyByWxpay(person: { name: string; idCardNumber: string }): Promise<void> {
  const auth = await postJson('/sandbox/realname/authorize', { openid: config.sandboxOpenid, ...person });
  const fetched = await postJson(
    '/gateway/functions/realname',
    { action: 'fetch', noticeVersion: noticeVersion('wxpay'), authToken: auth.body.auth_token },
    { 'X-WX-OPENID': config.sandboxOpenid },
  );
  expect(fetched.body).toMatchObject({ ok: true });
}

/** The page as shown: status loads on `show`. */
async function show(): Promise<Rendered> {
  const page = renderPage('index');
  // j-component has it; miniprogram-simulate's typings do not list it.
  (page as unknown as { triggerPageLifeTime(name: 'show'): void }).triggerPageLifeTime('show');
  await waitFor(
    () =>
      (page.data.statusLoaded || page.data.statusError !== '') &&
      (page.data.methodsLoaded || page.data.methodsError !== ''),
  );
  return page;
}

const html = (page: Rendered): string => page.dom!.innerHTML;

describe('index page', () => {
  it('in sandbox mode says so and names the demo openid; no binding yet', async () => {
    const page = await show();
    expect(page.querySelector('#sandbox-notice')!.dom!.textContent).toContain(config.sandboxOpenid);
    expect(html(page)).toContain('本地沙箱模式');
    expect(page.data.bindings).toEqual([]);
    expect(html(page)).toContain('尚未完成实名认证');
    expect(html(page)).toContain('人脸核身');
    expect(html(page)).toContain('微信支付实名授权');
    expect(html(page)).toContain('导入名单');
  });

  it('offers every method the server enables, in its order, saying whom each serves', async () => {
    const page = await show();
    expect(page.data.methods.map((m: { method: string }) => m.method)).toEqual(['wxcheck', 'face', 'manual', 'wxpay']);
    const text = page.querySelector('#methods')!.dom!.textContent!;
    expect(text).toContain('实名信息校验');
    expect(text).toContain('无需刷脸');
    expect(text).toContain('港澳台居民、外国人');
    // Not a reviewer: no review queue.
    expect(page.querySelector('#go-review-queue')).toBeUndefined();
  });

  it('shows the review queue to a reviewer (the roster admins when no reviewer list is set)', async () => {
    config.sandboxOpenid = ADMIN;
    const page = await show();
    expect(page.data.reviewer).toBe(true);
    expect(page.querySelector('#go-review-queue')!.dom!.textContent).toContain('审核人工核验申请');
  });

  it('shows the bindings after verifications: method, masked name and ID, time, roster membership', async () => {
    await verifyByFace(CAROL);
    await verifyByWxpay(DAVE);
    const page = await show();

    expect(page.data.bindings).toHaveLength(2);
    const byMethod = Object.fromEntries(page.data.bindings.map((b: { method: string }) => [b.method, b]));
    expect(byMethod.face).toMatchObject({
      methodLabel: '人脸核身',
      maskedName: '欧***',
      maskedIdCard: maskIdCard(CAROL.idCardNumber),
      verifiedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/),
      inRoster: true,
    });
    expect(byMethod.wxpay).toMatchObject({ methodLabel: '微信支付实名', maskedName: '买******', inRoster: false });

    const face = page.querySelector('#binding-face')!.dom!.textContent!;
    expect(face).toContain('人脸核身');
    expect(face).toContain('欧***');
    expect(face).toContain(maskIdCard(CAROL.idCardNumber));
    expect(face).toContain('已在名单中');
    const wxpay = page.querySelector('#binding-wxpay')!.dom!.textContent!;
    expect(wxpay).toContain('买******');
    expect(wxpay).not.toContain('已在名单中');
    expect(html(page)).not.toContain('尚未完成实名认证');
    expect(html(page)).not.toContain(CAROL.idCardNumber);
  });

  it('opens the verification pages', async () => {
    const navigateTo = jest.fn();
    device.navigateTo = navigateTo;
    (globalThis as unknown as { getCurrentPages: () => unknown[] }).getCurrentPages = () => [];
    const page = await show();

    for (const [i, method] of ['wxcheck', 'face', 'manual', 'wxpay'].entries()) {
      page.querySelector(`#go-${method}`)!.querySelector('.van-cell')!.dispatchEvent('tap');
      await waitFor(() => navigateTo.mock.calls.length === i + 1);
    }
    expect(navigateTo.mock.calls.map(([option]) => (option as { url: string }).url)).toEqual([
      '/verify/pages/realname-check/index',
      '/verify/pages/face-verify/index',
      '/verify/pages/review-submit/index',
      '/verify/pages/realname-auth/index',
    ]);
  });

  it('检查连接 reaches the ping function as the configured caller', async () => {
    const page = await show();
    expect(page.data.openid).toBe('');
    tapButton(page, '#ping');
    await waitFor(() => page.data.openid !== '');
    expect(page.data.openid).toBe(config.sandboxOpenid);
    expect(html(page)).toContain(config.sandboxOpenid);
  });

  it('says so when the sandbox cannot be reached', async () => {
    config.sandboxUrl = 'http://127.0.0.1:9';
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    const page = await show();
    expect(page.data.statusError).toBe('网络异常，请检查网络后重试');
    expect(page.data.methodsError).toBe('网络异常，请检查网络后重试');
    tapButton(page, '#ping');
    await waitFor(() => page.data.error !== '');
    expect(page.data.error).toBe('网络异常，请检查网络后重试');
    expect(page.data.loading).toBe(false);
    // face.status, identity.methods, ping.
    expect(warn).toHaveBeenCalledTimes(3);
    warn.mockRestore();
  });
});
