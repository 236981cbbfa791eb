import {
  deviceSupportMessage,
  FACE_CANCEL_CODES,
  FACE_CLIENT_MESSAGES,
  FACE_FALLBACK_HINT,
  faceClientMessage,
  isFaceCancelled,
} from '../../../miniprogram/shared/face-messages';

/** The client errCodes of /work/shared/reference/wechat-apis.md (startFacialRecognitionVerify / requestFacialVerify). */
const REFERENCE_CODES = [
  10001, 10002, 10003, 10004, 10005, 10006, 10007, 10008, 10009, 10010, 10011, 10012, 10013, 10014, 10015, 10016, 10017,
  10018, 10020, 10021, 10022, 10026, 10027, 10028, 10029, 10030, 10031, 10032, 10040, 10041, 10042, 10045, 10052, 10057,
  10066, 10069, 90100, 90101, 90102, 90103, 90104, 90105, 90106, 90107, 90108, 90109, 90199,
];

/** verify_ret values of the official queryVerifyInfo enumeration that wx.requestFacialVerify can end with. */
const VERIFY_RET_CODES = [
  90001, 90002, 90003, 90004, 90005, 90006, 90007, 90008, 90009, 90010, 90011, 90012, 90013, 90014, 90015, 90016, 90017,
  90018, 90019, 90020, 90021, 90022, 90023, 90024, 90110,
];

const HAN = /[\u4e00-\u9fff]/;

describe('faceClientMessage', () => {
  const fallback = faceClientMessage(123456);

  it('has a default that names the code', () => {
    expect(fallback).toContain('123456');
    expect(fallback).toMatch(HAN);
    expect(faceClientMessage(-1)).toContain('-1');
  });

  it.each([...REFERENCE_CODES, ...VERIFY_RET_CODES])('has a specific Chinese message for %i', (code) => {
    const message = faceClientMessage(code);
    expect(message).toMatch(HAN);
    expect(message).not.toContain(String(code));
    expect(message).toBe(FACE_CLIENT_MESSAGES[code]);
  });

  it('covers exactly the reference codes plus the verify_ret enumeration', () => {
    const table = Object.keys(FACE_CLIENT_MESSAGES).map(Number).sort();
    expect(table).toEqual([...REFERENCE_CODES, ...VERIFY_RET_CODES].sort());
  });

  it('says what matters for the common cases', () => {
    expect(faceClientMessage(90100)).toMatch(/取消/);
    expect(faceClientMessage(10004)).toMatch(/本人/);
    expect(faceClientMessage(90106)).toMatch(/相机/);
    expect(faceClientMessage(10042)).toMatch(/频繁/);
    for (const code of [90102, 90199]) expect(faceClientMessage(code)).toMatch(/重启微信|升级/);
  });
});

describe('isFaceCancelled', () => {
  it('is true only for cancellations', () => {
    expect(FACE_CANCEL_CODES).toEqual([90002, 90003, 90004, 90005, 90006, 90024, 90100]);
    for (const code of FACE_CANCEL_CODES) {
      expect(isFaceCancelled(code)).toBe(true);
      expect(faceClientMessage(code)).toMatch(/取消|退出/);
    }
    for (const code of [90001, 90007, 90101, 90199, 10001, 0]) expect(isFaceCancelled(code)).toBe(false);
  });
});

describe('deviceSupportMessage', () => {
  it.each([
    [10001, /前置摄像头/],
    [10002, /模型/],
    [10003, /暂不支持/],
  ])('explains %i and offers the fallback', (code, pattern) => {
    const message = deviceSupportMessage(code);
    expect(message).toMatch(pattern);
    expect(message).toContain(FACE_FALLBACK_HINT);
  });

  it('offers the fallback for unknown or missing codes (iOS gives none)', () => {
    for (const message of [deviceSupportMessage(), deviceSupportMessage(99999)]) {
      expect(message).toContain(FACE_FALLBACK_HINT);
      expect(message).toMatch(/无法使用人脸核身/);
    }
    expect(FACE_FALLBACK_HINT).toMatch(/其他认证方式/);
    expect(FACE_FALLBACK_HINT).toMatch(/客服/);
  });
});
