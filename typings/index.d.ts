/// <reference types="miniprogram-api-typings" />

/**
 * What miniprogram-api-typings 5.2.3 lacks. (It already types `wx.requestFacialVerify` and
 * `wx.checkIsSupportFacialRecognition`; we only add the latter's `checkAliveType`.)
 */

interface IAppOption {
  globalData: Record<string, never>;
}

declare namespace WechatMiniprogram {
  /** First-generation face verification. Either `name` + `idCardNumber`, or a server-issued `userIdKey`. */
  type StartFacialRecognitionVerifyOption = (
    | { name: string; idCardNumber: string; userIdKey?: never }
    | { userIdKey: string; name?: never; idCardNumber?: never }
  ) & {
    /** 2: screen flash if the device can, else read digits (the default). */
    checkAliveType?: number;
    success?: (res: StartFacialRecognitionVerifySuccessResult) => void;
    fail?: (res: StartFacialRecognitionVerifyFailResult) => void;
    complete?: (res: StartFacialRecognitionVerifySuccessResult | StartFacialRecognitionVerifyFailResult) => void;
  };
  interface StartFacialRecognitionVerifySuccessResult {
    /** Opaque proof of this verification; the server re-checks it with `getinfo`. */
    verifyResult: string;
    errCode: number;
    errMsg: string;
  }
  interface StartFacialRecognitionVerifyFailResult {
    verifyResult?: string;
    errCode: number;
    errMsg: string;
  }

  interface CheckIsSupportFacialRecognitionOption {
    checkAliveType?: number;
  }

  interface Wx {
    startFacialRecognitionVerify(option: StartFacialRecognitionVerifyOption): void;
  }

  /** `bindgetrealnameauthinfo` of `<button open-type="getRealnameAuthInfo">`. */
  interface GetRealnameAuthInfoDetail {
    auth_token?: string;
    errMsg?: string;
  }
  type GetRealnameAuthInfoEvent = CustomEvent<GetRealnameAuthInfoDetail>;
}
