/**
 * The realname-check page (city-service real-name check) against a real sandbox: the real `realname`
 * function's `check`, the emulated checkrealnameinfo, and the sandbox's stand-in for WeChat's consent
 * page. In cloud mode, what the device does is doubled: navigateToMiniProgram, and the code coming
 * back through App.onShow's referrerInfo.
 */
import { config } from '../../miniprogram/config';
import { receiveReferrer } from '../../miniprogram/services/citycheck';
import { getFaceStatus } from '../../miniprogram/services/face';
import { CITY_CHECK_APPID, CITY_CHECK_PATH } from '../../miniprogram/shared/citycheck';
import { ERRORS } from '../../miniprogram/shared/errors';
import { maskIdCard } from '../../miniprogram/shared/mask';
import { DEMO_IDENTITIES } from '../../sandbox/demo';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { html, reach, showAgain, tapCell, tickConsent, type } from '../helpers/page-actions';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const [ZHANG, MAIMAITI] = DEMO_IDENTITIES as [(typeof DEMO_IDENTITIES)[0], (typeof DEMO_IDENTITIES)[0]];
const device = wx as unknown as Record<string, unknown>;

let sandbox: SandboxProcess;
let openidSeq = 0;

beforeAll(async () => {
  sandbox = await startSandbox();
  config.sandboxUrl = sandbox.url;
});
afterAll(async () => {
  const { persistedText } = await sandbox.stop();
  for (const person of [ZHANG, MAIMAITI]) {
    expect(persistedText).not.toContain(person.idCardNumber);
    expect(persistedText).not.toContain(person.name);
  }
});
beforeEach(() => {
  installBridge();
  config.mode = 'sandbox';
  openidSeq += 1;
  config.sandboxOpenid = `o_check_page_${openidSeq}`;
});

/** Fills the form as `person` and goes to WeChat's consent page. */
async function fillAndAuthorize(person: { name: string; idCardNumber: string }): Promise<Rendered> {
  const page = renderPage('verify/pages/realname-check');
  await reach(page, 'form');
  await type(page, '#name', person.name);
  await type(page, '#id-card', person.idCardNumber);
  await tickConsent(page);
  tapButton(page, '#authorize');
  await reach(page, 'consent');
  return page;
}

describe('realname-check page, sandbox mode', () => {
  it('passes: form → consent as the same person → checked by the server; masked result; status has it', async () => {
    const page = await fillAndAuthorize(ZHANG);
    expect(html(page)).toContain('沙箱：模拟微信的实名授权页面');
    tapCell(page, '#identity-0');
    await reach(page, 'done');
    expect(page.data.result).toMatchObject({
      method: 'wxcheck',
      methodLabel: '实名信息校验',
      docLabel: '身份证号',
      maskedIdCard: maskIdCard(ZHANG.idCardNumber),
    });
    expect(html(page)).toContain('实名信息校验通过');
    // The page keeps no identity once the server has it.
    expect(page.data.name).toBe('');
    expect(page.data.idCard).toBe('');
    expect(JSON.stringify(page.data)).not.toContain(ZHANG.idCardNumber);
    const status = await getFaceStatus();
    expect(status).toMatchObject({ ok: true, bindings: [{ method: 'wxcheck' }] });
  });

  it('a name WeChat Pay does not know for the user is refused with its message', async () => {
    const page = await fillAndAuthorize({ name: MAIMAITI.name, idCardNumber: ZHANG.idCardNumber });
    tapCell(page, '#identity-0');
    await reach(page, 'failed');
    expect(page.data.failMessage).toBe(ERRORS.REALNAME_CHECK_NAME_MISMATCH);
    expect(html(page)).toContain('选择其他认证方式');
    expect(await getFaceStatus()).toMatchObject({ bindings: [] });
  });

  it('a user without a WeChat Pay real name is told to use another method', async () => {
    const page = await fillAndAuthorize(ZHANG);
    tapCell(page, '#scenario-no-realname');
    await reach(page, 'failed');
    expect(page.data.failMessage).toBe(ERRORS.REALNAME_CHECK_NO_REALNAME);
    tapButton(page, '#retry');
    await reach(page, 'form');
  });

  it('checks the form on the device first: nothing is sent', async () => {
    const page = renderPage('verify/pages/realname-check');
    await reach(page, 'form');
    const request = jest.fn();
    device.request = request;
    tapButton(page, '#authorize');
    await waitFor(() => page.data.consentError !== '');
    expect(page.data.nameError).toBe(ERRORS.NAME_REQUIRED);
    expect(page.data.consentError).toBe(ERRORS.CONSENT_REQUIRED);
    expect(page.data.step).toBe('form');
    expect(request).not.toHaveBeenCalled();
  });
});

describe('realname-check page, cloud mode (the device doubled)', () => {
  beforeEach(() => {
    config.mode = 'cloud';
  });

  it('opens the consent mini-program; the code from App.onShow is checked', async () => {
    const opened: unknown[] = [];
    device.navigateToMiniProgram = (option: { appId: string; path: string; success: () => void }) => {
      opened.push({ appId: option.appId, path: option.path });
      option.success();
    };
    const page = await fillAndAuthorize(ZHANG);
    expect(opened).toEqual([{ appId: CITY_CHECK_APPID, path: CITY_CHECK_PATH }]);
    // The user agrees; WeChat returns with the code in referrerInfo (the nested shape developers report).
    const { code } = (await postJson('/sandbox/citycheck/authorize', { openid: config.sandboxOpenid, ...ZHANG }))
      .body as { code: string };
    receiveReferrer({ referrerInfo: { appId: CITY_CHECK_APPID, extraData: { code: { auth_code: code } } } });
    showAgain(page);
    await reach(page, 'done');
    expect(page.data.result).toMatchObject({ method: 'wxcheck' });
  });

  it('back without a code (or from another mini-program): says so and offers to go again', async () => {
    device.navigateToMiniProgram = (option: { success: () => void }) => option.success();
    const page = await fillAndAuthorize(ZHANG);
    receiveReferrer({ referrerInfo: { appId: 'wx0000000000000000', extraData: { code: 'a-code-from-elsewhere' } } });
    showAgain(page);
    await waitFor(() => page.data.notice !== '');
    expect(page.data.step).toBe('consent');
    expect(html(page)).toContain('没有收到微信的授权结果');
  });

  it('a spent code WeChat shows again on a later return is not resent; a busy WeChat keeps the form filled', async () => {
    let pending: { success: () => void } | undefined;
    device.navigateToMiniProgram = (option: { success: () => void }) => {
      pending = option;
    };
    // The return is shown before navigateToMiniProgram's success answers (some clients do this).
    const first = await fillAndAuthorize(ZHANG);
    const { code } = (await postJson('/sandbox/citycheck/authorize', { openid: config.sandboxOpenid, ...ZHANG }))
      .body as { code: string };
    const referrer = { referrerInfo: { appId: CITY_CHECK_APPID, extraData: { code } } };
    receiveReferrer(referrer);
    showAgain(first);
    pending!.success();
    await reach(first, 'done');

    // A second attempt: the same referrerInfo comes back with App.onShow. It is not sent again.
    const second = await fillAndAuthorize(ZHANG);
    receiveReferrer(referrer);
    showAgain(second);
    await waitFor(() => second.data.notice !== '');
    expect(second.data.step).toBe('consent');

    // A fresh code while WeChat is busy: the form stays filled, ready for another try.
    const fresh = (await postJson('/sandbox/citycheck/authorize', { openid: config.sandboxOpenid, ...ZHANG })).body as {
      code: string;
    };
    await postJson('/sandbox/faults', { path: '/intp/realname/checkrealnameinfo', errcode: -1, times: 3 });
    receiveReferrer({ referrerInfo: { appId: CITY_CHECK_APPID, extraData: { code: fresh.code } } });
    showAgain(second);
    await waitFor(() => second.data.formError !== '');
    expect(second.data).toMatchObject({ step: 'form', formError: ERRORS.WECHAT_BUSY, name: ZHANG.name });
    expect(second.data.idCard).toBe(ZHANG.idCardNumber);
  });

  it('a code arriving when no attempt waits for one is ignored', async () => {
    device.navigateToMiniProgram = (option: { success: () => void }) => option.success();
    const { code } = (await postJson('/sandbox/citycheck/authorize', { openid: config.sandboxOpenid, ...ZHANG }))
      .body as { code: string };
    // Before any attempt (e.g. the user opened the mini-program from the consent page's history).
    receiveReferrer({ referrerInfo: { appId: CITY_CHECK_APPID, extraData: { code } } });
    const page = await fillAndAuthorize(ZHANG);
    showAgain(page);
    await waitFor(() => page.data.notice !== '');
    expect(page.data.step).toBe('consent');
  });

  it('the user declining to leave for WeChat’s page stays on the form with a message', async () => {
    device.navigateToMiniProgram = (option: { fail: (err: { errMsg: string }) => void }) =>
      option.fail({ errMsg: 'navigateToMiniProgram:fail cancel' });
    const page = renderPage('verify/pages/realname-check');
    await reach(page, 'form');
    await type(page, '#name', ZHANG.name);
    await type(page, '#id-card', ZHANG.idCardNumber);
    await tickConsent(page);
    tapButton(page, '#authorize');
    await waitFor(() => page.data.formError !== '');
    expect(page.data.step).toBe('form');
    expect(page.data.formError).toContain('取消');
  });
});
