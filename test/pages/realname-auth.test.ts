/**
 * The realname-auth page against a real sandbox: the real `realname` function (categories, signed
 * getrealnameinfo, RSA decryption, GB18030 names) behind the gateway, and the sandbox's stand-in
 * for WeChat Pay's confirmation. In cloud mode the real `<button open-type="getRealnameAuthInfo">`
 * is driven by dispatching the event WeChat would send.
 */
import { config } from '../../miniprogram/config';
import { getFaceStatus } from '../../miniprogram/services/face';
import { ERRORS } from '../../miniprogram/shared/errors';
import { maskIdCard } from '../../miniprogram/shared/mask';
import { DEMO_IDENTITIES } from '../../sandbox/demo';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const [ZHANG, MAIMAITI, RARE] = DEMO_IDENTITIES as [
  (typeof DEMO_IDENTITIES)[0],
  (typeof DEMO_IDENTITIES)[0],
  (typeof DEMO_IDENTITIES)[0],
];

let sandbox: SandboxProcess;
let openidSeq = 0;

beforeAll(async () => {
  sandbox = await startSandbox();
  config.sandboxUrl = sandbox.url;
});
afterAll(async () => {
  config.mode = 'sandbox';
  const { persistedText } = await sandbox.stop();
  for (const person of [ZHANG, MAIMAITI, RARE]) {
    expect(persistedText).not.toContain(person.idCardNumber);
    expect(persistedText).not.toContain(person.idCardNumber.slice(0, 14));
    expect(persistedText).not.toContain(person.name);
  }
});
beforeEach(() => {
  installBridge();
  openidSeq += 1;
  config.sandboxOpenid = `o_realname_page_${openidSeq}`;
});

async function reach(page: Rendered, step: string): Promise<void> {
  await waitFor(() => page.data.step === step).catch(() => {
    throw new Error(`expected step ${step}, page data: ${JSON.stringify(page.data)}`);
  });
}

function tapCell(page: Rendered, selector: string): void {
  const cell = page.querySelector(selector)?.querySelector('.van-cell');
  if (!cell) throw new Error(`no van-cell ${selector}`);
  cell.dispatchEvent('tap');
}

const html = (page: Rendered): string => page.dom!.innerHTML;

describe('realname-auth page, sandbox mode', () => {
  beforeEach(() => {
    config.mode = 'sandbox';
  });

  async function open(): Promise<Rendered> {
    const page = renderPage('verify/pages/realname-auth');
    await reach(page, 'ready');
    return page;
  }

  it('explains what is shared and why, and lists the demo identities masked', async () => {
    const page = await open();
    expect(page.data.categoryId).toEqual([99, 904]);
    expect(html(page)).toContain('实名信息使用说明');
    expect(html(page)).toContain('姓名和身份证号');
    expect(html(page)).toContain('沙箱：模拟微信支付实名授权');
    // Says plainly that a new mini-program cannot obtain this button, and what to use instead.
    const closed = page.querySelector('#closed-notice')!.dom!.textContent!;
    expect(closed).toContain('2019-11-10');
    expect(closed).toContain('实名信息校验');
    expect(page.querySelector('#authorize')).toBeUndefined();
    expect(page.data.choices).toHaveLength(DEMO_IDENTITIES.length);
    expect(JSON.stringify(page.data)).not.toMatch(/\d{17}[\dX]/);
  });

  it.each([
    ['a name with “·”', 1, MAIMAITI, '买******'],
    ['a rare character outside the BMP', 2, RARE, '李*'],
  ])('authorizes as %s: fetched through the real function, masked result', async (_label, index, person, masked) => {
    const page = await open();
    tapCell(page, `#identity-${index}`);
    await reach(page, 'done');
    expect(page.data.result).toMatchObject({
      method: 'wxpay',
      methodLabel: '微信支付实名',
      maskedName: masked,
      maskedIdCard: maskIdCard(person.idCardNumber),
    });
    expect(html(page)).toContain('实名信息授权成功');
    expect(html(page)).toContain(masked);
    expect(html(page)).not.toContain(person.idCardNumber);
    // The binding is the caller's now, as every page sees it.
    const status = await getFaceStatus();
    expect(status).toMatchObject({ ok: true, bindings: [{ method: 'wxpay', maskedName: masked }] });
  });

  it.each([
    ['#scenario-no-wxpay', ERRORS.REALNAME_NO_WXPAY],
    ['#scenario-no-realname', ERRORS.REALNAME_NO_INFO],
  ])('%s: WeChat refuses and the page says why', async (selector, message) => {
    const page = await open();
    tapCell(page, selector);
    await reach(page, 'failed');
    expect(page.data.failMessage).toBe(message);
    expect(html(page)).toContain(message);
    expect(await getFaceStatus()).toMatchObject({ ok: true, bindings: [] });

    tapButton(page, '#retry');
    await reach(page, 'ready');
  });

  it('the user closes the confirmation: a gentle notice, nothing fetched', async () => {
    const page = await open();
    tapCell(page, '#sandbox-cancel');
    await waitFor(() => page.data.notice !== '');
    expect(page.data.step).toBe('ready');
    expect(html(page)).toContain('您已取消或未完成授权');
    expect(await getFaceStatus()).toMatchObject({ ok: true, bindings: [] });
  });
});

describe('realname-auth page, cloud mode: the real getRealnameAuthInfo button', () => {
  beforeEach(() => {
    config.mode = 'cloud';
  });

  async function open(): Promise<Rendered> {
    const page = renderPage('verify/pages/realname-auth');
    await reach(page, 'ready');
    return page;
  }

  /** What WeChat does once the user confirmed with the Pay password (here: the sandbox's WeChat Pay). */
  async function userConfirms(person: { name: string; idCardNumber: string }): Promise<string> {
    const res = await postJson('/sandbox/realname/authorize', { openid: config.sandboxOpenid, ...person });
    expect(res.status).toBe(200);
    return String(res.body.auth_token);
  }

  function buttonEvent(page: Rendered, detail: Record<string, unknown>): void {
    page.querySelector('#authorize')!.dispatchEvent('getrealnameauthinfo', { detail });
  }

  it('renders the button with the first category, no sandbox screen', async () => {
    const page = await open();
    expect(page.data.categoryId).toEqual([99, 904]);
    expect(page.querySelector('#authorize')).toBeTruthy();
    expect(html(page)).toContain('授权微信支付实名信息');
    expect(html(page)).not.toContain('沙箱');
  });

  it('cancel (no auth_token in the event): gentle notice, stays ready', async () => {
    const page = await open();
    buttonEvent(page, { errMsg: 'getRealnameAuthInfo:fail cancel' });
    await waitFor(() => page.data.notice !== '');
    expect(page.data.step).toBe('ready');
    expect(page.data.failMessage).toBe('');
    expect(html(page)).toContain('您已取消或未完成授权');
  });

  it('auth_token → realname.fetch → masked result; the same token again is refused', async () => {
    const token = await userConfirms(MAIMAITI);
    const page = await open();
    buttonEvent(page, { auth_token: token, errMsg: 'getRealnameAuthInfo:ok' });
    await reach(page, 'done');
    expect(page.data.result).toMatchObject({ method: 'wxpay', maskedName: '买******' });

    const again = await open();
    buttonEvent(again, { auth_token: token, errMsg: 'getRealnameAuthInfo:ok' });
    await reach(again, 'failed');
    expect(again.data.failMessage).toBe(ERRORS.REALNAME_TOKEN_USED);
  });

  it('a user without WeChat Pay (scenario no_wxpay) gets REALNAME_NO_WXPAY', async () => {
    const res = await postJson('/sandbox/realname/authorize', {
      openid: config.sandboxOpenid,
      ...ZHANG,
      scenario: 'no_wxpay',
    });
    const page = await open();
    buttonEvent(page, { auth_token: String(res.body.auth_token) });
    await reach(page, 'failed');
    expect(page.data.failMessage).toBe(ERRORS.REALNAME_NO_WXPAY);
  });
});
