/**
 * The device side of face verification (services/face.ts), in cloud mode, with doubles of what the
 * device does: the support check and WeChat's two capture APIs. No page: the pages' cloud-mode
 * path is in face-verify.test.ts.
 */
import { config } from '../../miniprogram/config';
import { checkFaceSupport, OUTDATED_WECHAT_MESSAGE, runFaceCapture } from '../../miniprogram/services/face';
import { deviceSupportMessage, FACE_CLIENT_MESSAGES } from '../../miniprogram/shared/face-messages';
import '../helpers/simulate';

type Callbacks<S, F> = { success?: (res: S) => void; fail?: (res: F) => void };
const device = wx as unknown as Record<string, unknown>;

const V2 = { mode: 'v2', verifyId: 'verify-id-0123456789', expiresIn: 600 } as const;
const V1 = { mode: 'v1', userIdKey: 'id_key_0123456789', expiresIn: 600 } as const;

/** A capture API double that answers with `errCode` (0: success). */
function captureApi(errCode: number, success: Record<string, unknown> = {}): jest.Mock {
  return jest.fn((option: Callbacks<Record<string, unknown>, { errCode: number; errMsg: string }>) => {
    setTimeout(() => {
      if (errCode === 0) option.success?.({ errCode: 0, errMsg: 'ok', ...success });
      else option.fail?.({ errCode, errMsg: `fail ${errCode}` });
    }, 0);
  });
}

beforeEach(() => {
  config.mode = 'cloud';
  device.canIUse = jest.fn(() => true);
});
afterAll(() => {
  config.mode = 'sandbox';
});

describe('runFaceCapture, second generation (wx.requestFacialVerify)', () => {
  it('success: the verifyId is the proof to confirm', async () => {
    device.requestFacialVerify = captureApi(0);
    await expect(runFaceCapture(V2)).resolves.toEqual({ ok: true, proof: { verifyId: V2.verifyId } });
    expect(device.requestFacialVerify).toHaveBeenCalledWith(expect.objectContaining({ verifyId: V2.verifyId }));
    expect(device.canIUse).toHaveBeenCalledWith('requestFacialVerify');
  });

  it('90100: the user cancelled, said gently', async () => {
    device.requestFacialVerify = captureApi(90100);
    await expect(runFaceCapture(V2)).resolves.toEqual({
      ok: false,
      code: 'FACE_CANCELLED',
      message: '已取消人脸核身',
    });
  });

  it('10004: face mismatch, with its message', async () => {
    device.requestFacialVerify = captureApi(10004);
    await expect(runFaceCapture(V2)).resolves.toEqual({
      ok: false,
      code: 'FACE_CAPTURE_FAILED',
      message: FACE_CLIENT_MESSAGES[10004],
    });
  });

  it('an unknown code still gets a Chinese message with the code', async () => {
    device.requestFacialVerify = captureApi(12345);
    const outcome = await runFaceCapture(V2);
    expect(outcome).toMatchObject({ ok: false, code: 'FACE_CAPTURE_FAILED' });
    expect(!outcome.ok && outcome.message).toContain('12345');
  });

  it('base library too old (canIUse false): asks to update WeChat, never calls the API', async () => {
    device.canIUse = jest.fn(() => false);
    device.requestFacialVerify = captureApi(0);
    await expect(runFaceCapture(V2)).resolves.toEqual({
      ok: false,
      code: 'WECHAT_OUTDATED',
      message: OUTDATED_WECHAT_MESSAGE,
    });
    expect(device.requestFacialVerify).not.toHaveBeenCalled();
  });
});

describe('runFaceCapture, first generation (wx.startFacialRecognitionVerify)', () => {
  it('success: verifyResult is the proof; only the userIdKey goes to the device API', async () => {
    device.startFacialRecognitionVerify = captureApi(0, { verifyResult: 'verify-result-abcdef' });
    await expect(runFaceCapture(V1)).resolves.toEqual({ ok: true, proof: { verifyResult: 'verify-result-abcdef' } });
    const option = (device.startFacialRecognitionVerify as jest.Mock).mock.calls[0][0] as Record<string, unknown>;
    expect(option).toMatchObject({ userIdKey: V1.userIdKey });
    expect(option).not.toHaveProperty('name');
    expect(option).not.toHaveProperty('idCardNumber');
  });

  it('90100 and 10004 map to their messages', async () => {
    device.startFacialRecognitionVerify = captureApi(90100);
    await expect(runFaceCapture(V1)).resolves.toMatchObject({
      ok: false,
      code: 'FACE_CANCELLED',
      message: '已取消人脸核身',
    });
    device.startFacialRecognitionVerify = captureApi(10004);
    await expect(runFaceCapture(V1)).resolves.toMatchObject({
      ok: false,
      code: 'FACE_CAPTURE_FAILED',
      message: FACE_CLIENT_MESSAGES[10004],
    });
  });
});

describe('checkFaceSupport', () => {
  const supportApi = (errCode?: number) =>
    jest.fn((option: Callbacks<{ errMsg: string }, { errMsg: string; errCode?: number }>) => {
      if (errCode === 0) option.success?.({ errMsg: 'ok' });
      else option.fail?.({ errMsg: 'checkIsSupportFacialRecognition:fail', errCode });
    });

  it.each([10001, 10002, 10003])('fail %i: not supported, with the reason', async (errCode) => {
    device.checkIsSupportFacialRecognition = supportApi(errCode);
    await expect(checkFaceSupport()).resolves.toEqual({
      ok: false,
      code: 'FACE_UNSUPPORTED',
      message: deviceSupportMessage(errCode),
    });
  });

  it('iOS fails without a code: a generic reason with the fallback hint', async () => {
    device.checkIsSupportFacialRecognition = supportApi(undefined);
    const support = await checkFaceSupport();
    expect(support).toEqual({ ok: false, code: 'FACE_UNSUPPORTED', message: deviceSupportMessage() });
    expect(!support.ok && support.message).toContain('其他认证方式');
  });

  it('supported devices pass', async () => {
    device.checkIsSupportFacialRecognition = supportApi(0);
    await expect(checkFaceSupport()).resolves.toEqual({ ok: true });
  });

  it('the sandbox needs no camera: always supported, the device API is not asked', async () => {
    config.mode = 'sandbox';
    device.checkIsSupportFacialRecognition = supportApi(10001);
    await expect(checkFaceSupport()).resolves.toEqual({ ok: true });
    expect(device.checkIsSupportFacialRecognition).not.toHaveBeenCalled();
  });
});
