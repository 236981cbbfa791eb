/**
 * The face-verify page against a real sandbox: the real `face` function behind the gateway, the
 * emulated WeChat face APIs, and the sandbox's face screen. Only what a device does is doubled
 * (the support check, the capture in cloud mode, navigation).
 */
import { config } from '../../miniprogram/config';
import { getFaceStatus } from '../../miniprogram/services/face';
import { ERRORS } from '../../miniprogram/shared/errors';
import { deviceSupportMessage, faceClientMessage } from '../../miniprogram/shared/face-messages';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { type Rendered, renderPage, simulate, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const ALICE = { name: '欧阳娜娜', idCardNumber: makeIdCard('440106', '19900307', '123') };
const BOB = { name: '买买提·吐尔逊', idCardNumber: makeIdCard('650102', '19851120', '457') };

let openidSeq = 0;
/** A fresh caller per test: the face function limits starts per user. */
function newCaller(): string {
  openidSeq += 1;
  config.sandboxOpenid = `o_face_page_${openidSeq}`;
  return config.sandboxOpenid;
}

type Wx = Record<string, unknown>;
const device = wx as unknown as Wx;

/** Events are delivered asynchronously (a microtask, as on a device). */
const settle = (): Promise<void> => simulate.sleep(0);

/** Types into a van-field: its inner `<input>` fires `input`, then `blur`. */
async function type(page: Rendered, fieldSelector: string, value: string): Promise<void> {
  const controls = page.querySelector(fieldSelector)?.querySelectorAll('.van-field__control') ?? [];
  const input = controls.find((node) => node.dom?.tagName === 'WX-INPUT');
  if (!input) throw new Error(`no input in ${fieldSelector}`);
  input.dispatchEvent('input', { detail: { value } });
  input.dispatchEvent('blur', { detail: { value } });
  await settle();
}

/** The native `<checkbox-group>` reports the ticked values. */
async function tickConsent(page: Rendered): Promise<void> {
  page.querySelector('#consent')!.dispatchEvent('change', { detail: { value: ['agree'] } });
  await settle();
}

function tapCell(page: Rendered, selector: string): void {
  page.querySelector(selector)!.querySelector('.van-cell')!.dispatchEvent('tap');
}

/** Waits for the page to reach `step`; on timeout, says where it stopped. */
async function reach(page: Rendered, step: string): Promise<void> {
  await waitFor(() => page.data.step === step).catch(() => {
    throw new Error(`expected step ${step}, page data: ${JSON.stringify(page.data)}`);
  });
}

async function openForm(): Promise<Rendered> {
  const page = renderPage('verify/pages/face-verify');
  await reach(page, 'form');
  return page;
}

/** Fills the form, ticks consent and starts: the page is then on the sandbox's face screen. */
async function startAs(person: { name: string; idCardNumber: string }): Promise<Rendered> {
  const page = await openForm();
  await type(page, '#name', person.name);
  await type(page, '#id-card', person.idCardNumber);
  await tickConsent(page);
  tapButton(page, '#start');
  await reach(page, 'capture');
  return page;
}

const html = (page: Rendered): string => page.dom!.innerHTML;

describe.each(['v2', 'v1'] as const)('face-verify page, sandbox mode, face API %s', (mode) => {
  let sandbox: SandboxProcess;

  beforeAll(async () => {
    sandbox = await startSandbox({ functionEnv: { FACE_API_VERSION: mode } });
    config.mode = 'sandbox';
    config.sandboxUrl = sandbox.url;
  });
  afterAll(async () => {
    const { persistedText } = await sandbox.stop();
    for (const person of [ALICE, BOB]) {
      expect(persistedText).not.toContain(person.idCardNumber);
      expect(persistedText).not.toContain(person.idCardNumber.slice(0, 14));
      expect(persistedText).not.toContain(person.name);
    }
  });
  beforeEach(() => {
    installBridge();
    newCaller();
  });

  it('passes: start → 通过 → confirmed by the server; masked result; face.status has the binding', async () => {
    const page = await startAs(ALICE);
    // The server has the identity now: the page dropped it, and shows the sandbox's face screen.
    expect(page.data.name).toBe('');
    expect(page.data.idCard).toBe('');
    expect(page.data.started).toMatchObject({ mode });
    expect(html(page)).toContain('沙箱：模拟人脸采集');

    tapButton(page, '#sandbox-pass');
    await reach(page, 'done');

    const maskedIdCard = `4401**********${ALICE.idCardNumber.slice(-4)}`;
    expect(page.data.result).toEqual({
      method: 'face',
      methodLabel: '人脸核身',
      maskedName: '欧***',
      docLabel: '身份证号',
      maskedIdCard,
      verifiedAt: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/),
      inRoster: false,
    });
    expect(page.data.started).toBeNull();
    expect(html(page)).toContain('人脸核身通过');
    expect(html(page)).toContain(maskedIdCard);
    expect(html(page)).not.toContain(ALICE.idCardNumber);
    expect(JSON.stringify(page.data)).not.toContain(ALICE.idCardNumber);

    const status = await getFaceStatus();
    expect(status).toMatchObject({ ok: true, mode, bindings: [{ method: 'face', maskedName: '欧***', maskedIdCard }] });
  });

  it('不通过: the capture fails with its client message and nothing is bound', async () => {
    const page = await startAs(ALICE);
    tapButton(page, '#sandbox-fail');
    await reach(page, 'failed');
    expect(page.data.failMessage).toBe(faceClientMessage(10004));
    expect(page.data.cancelled).toBe(false);
    expect(html(page)).toContain('人脸核身未完成');
    expect(html(page)).toContain(faceClientMessage(10004));
    expect(await getFaceStatus()).toMatchObject({ ok: true, bindings: [] });
  });

  it('取消: handled gently, and 重新核身 returns to an empty form', async () => {
    const page = await startAs(ALICE);
    tapButton(page, '#sandbox-cancel');
    await reach(page, 'failed');
    expect(page.data.failMessage).toBe('已取消人脸核身');
    expect(page.data.cancelled).toBe(true);
    expect(html(page)).toContain('已取消人脸核身');
    expect(page.querySelector('#fail-message')!.dom!.className).not.toContain('error');

    tapButton(page, '#retry');
    await reach(page, 'form');
    expect(page.data).toMatchObject({ name: '', idCard: '', failMessage: '' });
  });

  it('以他人身份通过: the capture "passes" but the server finds another face and refuses', async () => {
    const page = await startAs(BOB);
    tapButton(page, '#sandbox-other');
    await waitFor(() => page.data.choosing === true);
    // The demo identities are listed masked; index 0 is 张三, not the person entered.
    expect(page.data.choices[0]).toMatchObject({ index: 0, maskedName: '张*' });
    expect(JSON.stringify(page.data.choices)).not.toMatch(/\d{17}[\dX]/);

    tapCell(page, '#identity-0');
    await reach(page, 'failed');
    const expected = mode === 'v2' ? ERRORS.FACE_NOT_PASSED : ERRORS.FACE_IDENTITY_MISMATCH;
    expect(page.data.failMessage).toBe(expected);
    expect(page.data.cancelled).toBe(false);
    expect(await getFaceStatus()).toMatchObject({ ok: true, bindings: [] });
  });
});

describe('face-verify page, form checks (no request leaves the page)', () => {
  let requests: jest.Mock;

  beforeEach(() => {
    config.mode = 'sandbox';
    config.sandboxUrl = 'http://127.0.0.1:9'; // nothing may be sent anywhere
    requests = jest.fn();
    device.request = requests;
  });

  it('shows inline errors: bad checksum, 15-digit ID, bad name; they follow the typing', async () => {
    const page = await openForm();
    const good = ALICE.idCardNumber;
    const badChecksum = good.slice(0, 17) + (good.endsWith('1') ? '2' : '1');

    await type(page, '#id-card', badChecksum);
    expect(page.data.idError).toBe(ERRORS.ID_CHECKSUM);
    expect(html(page)).toContain(ERRORS.ID_CHECKSUM);

    await type(page, '#id-card', '440106900307123');
    expect(page.data.idError).toBe(ERRORS.ID_15_DIGIT);

    await type(page, '#name', '张');
    expect(page.data.nameError).toBe(ERRORS.NAME_INVALID);

    await type(page, '#id-card', good);
    await type(page, '#name', '买买提·吐尔逊');
    expect(page.data).toMatchObject({ idError: '', nameError: '' });

    // Starting with an invalid ID refuses client-side.
    await type(page, '#id-card', badChecksum);
    await type(page, '#name', '');
    await tickConsent(page);
    tapButton(page, '#start');
    await waitFor(() => page.data.nameError !== '');
    expect(page.data.nameError).toBe(ERRORS.NAME_REQUIRED);
    expect(page.data.step).toBe('form');
    expect(page.data.idError).toBe(ERRORS.ID_CHECKSUM);
    expect(requests).not.toHaveBeenCalled();
  });

  it('refuses to start without consent', async () => {
    const page = await openForm();
    await type(page, '#name', ALICE.name);
    await type(page, '#id-card', ALICE.idCardNumber);
    tapButton(page, '#start');
    await waitFor(() => page.data.consentError !== '');
    expect(page.data.consentError).toBe(ERRORS.CONSENT_REQUIRED);
    expect(html(page)).toContain(ERRORS.CONSENT_REQUIRED);
    expect(page.data.step).toBe('form');
    expect(requests).not.toHaveBeenCalled();

    await tickConsent(page);
    expect(page.data).toMatchObject({ consent: true, consentError: '' });
  });
});

describe('face-verify page, cloud mode (device doubles, real function through the bridge)', () => {
  let sandbox: SandboxProcess;

  beforeAll(async () => {
    sandbox = await startSandbox();
    config.sandboxUrl = sandbox.url;
  });
  afterAll(async () => {
    config.mode = 'sandbox';
    await sandbox.stop();
  });
  beforeEach(() => {
    installBridge();
    config.mode = 'cloud';
    newCaller();
  });

  it('device without front camera (10001): the other methods are offered', async () => {
    device.checkIsSupportFacialRecognition = (option: { fail: (res: { errCode: number; errMsg: string }) => void }) =>
      option.fail({ errCode: 10001, errMsg: 'checkIsSupportFacialRecognition:fail' });
    const navigateBack = jest.fn();
    device.navigateBack = navigateBack;

    const page = renderPage('verify/pages/face-verify');
    await reach(page, 'unsupported');
    expect(page.data.unsupportedMessage).toBe(deviceSupportMessage(10001));
    expect(html(page)).toContain('您的设备没有前置摄像头');
    expect(html(page)).toContain('选择其他认证方式');
    expect(page.querySelector('#start')).toBeUndefined();

    tapButton(page, '#use-other');
    await waitFor(() => navigateBack.mock.calls.length > 0);
  });

  it('runs the real capture (wx.requestFacialVerify) and confirms with the server', async () => {
    const openid = config.sandboxOpenid;
    device.checkIsSupportFacialRecognition = (option: { success: (res: { errMsg: string }) => void }) =>
      option.success({ errMsg: 'checkIsSupportFacialRecognition:ok' });
    device.canIUse = () => true;
    const captures: string[] = [];
    // What the device does: the user completes WeChat's face screen (here: the sandbox records it).
    device.requestFacialVerify = (option: { verifyId: string; success: (res: { errCode: number }) => void }) => {
      captures.push(option.verifyId);
      void postJson('/sandbox/face/complete', { openid, verifyId: option.verifyId, outcome: 'pass' }).then(() =>
        option.success({ errCode: 0 }),
      );
    };

    const page = await openForm();
    expect(html(page)).not.toContain('沙箱');
    await type(page, '#name', BOB.name);
    await type(page, '#id-card', BOB.idCardNumber);
    await tickConsent(page);
    tapButton(page, '#start');
    await reach(page, 'done');

    expect(captures).toHaveLength(1);
    expect(page.data.result).toMatchObject({ method: 'face', maskedName: '买******' });
  });
});
