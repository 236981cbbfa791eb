/**
 * Face verification (人脸核身): the device check, the three cloud actions, and the capture step on
 * the device. Which face API generation runs is the server's choice: `startFaceVerify` answers
 * `mode: 'v2'` (a verifyId for `wx.requestFacialVerify`) or `mode: 'v1'` (a userIdKey for
 * `wx.startFacialRecognitionVerify`). The capture result is only a proof: the server re-checks it
 * with WeChat in `confirmFaceVerify`.
 */
import type { FaceConfirmRequest, FaceStartRequest, FaceStartResponse, ResponseOf } from '../shared/contracts';
import { failure, type Result } from '../shared/errors';
import { deviceSupportMessage, faceClientMessage, isFaceCancelled } from '../shared/face-messages';
import { callCloud } from './cloud';
import { clientMode } from './mode';
import { noticeVersion } from '../shared/consent';

/** The device can run face verification, or `FACE_UNSUPPORTED` with the reason. */
export type FaceSupport = Result;

/**
 * What the capture step produced: a proof for `confirmFaceVerify`, or why there is none:
 * `FACE_CANCELLED` (the user backed out), `FACE_CAPTURE_FAILED` (WeChat's reason in the message) or
 * `WECHAT_OUTDATED` (the capture could not even begin).
 */
export type CaptureOutcome = Result<{ proof: FaceConfirmRequest }>;

export const OUTDATED_WECHAT_MESSAGE = '当前微信版本过低，无法进行人脸核身，请升级微信到最新版本后重试';

/** Checks the device can run face verification. The sandbox needs no camera: always supported. */
export function checkFaceSupport(): Promise<FaceSupport> {
  if (clientMode() === 'sandbox') return Promise.resolve({ ok: true });
  return new Promise((resolve) => {
    wx.checkIsSupportFacialRecognition({
      checkAliveType: 2,
      success: () => resolve({ ok: true }),
      // Android reports 10001-10003; iOS gives no errCode.
      fail: (res) => resolve(failure('FACE_UNSUPPORTED', deviceSupportMessage((res as { errCode?: number }).errCode))),
    });
  });
}

export function startFaceVerify(
  request: Omit<FaceStartRequest, 'noticeVersion'>,
): Promise<ResponseOf<'face', 'start'>> {
  return callCloud('face', 'start', { ...request, noticeVersion: noticeVersion('face') });
}

/** A capture that ended with `errCode` (a client outcome of either generation). */
export function captureFailure(errCode: number): CaptureOutcome {
  return failure(isFaceCancelled(errCode) ? 'FACE_CANCELLED' : 'FACE_CAPTURE_FAILED', faceClientMessage(errCode));
}

/** Opens WeChat's face capture for a started verification. */
export function runFaceCapture(started: FaceStartResponse): Promise<CaptureOutcome> {
  if (started.mode === 'v2') {
    // wx.requestFacialVerify needs base library 3.8.12; the server's verifyId only works with it.
    if (!wx.canIUse('requestFacialVerify')) {
      return Promise.resolve(failure('WECHAT_OUTDATED', OUTDATED_WECHAT_MESSAGE));
    }
    const verifyId = started.verifyId;
    return new Promise((resolve) => {
      wx.requestFacialVerify({
        verifyId,
        success: () => resolve({ ok: true, proof: { verifyId } }),
        fail: (res) => resolve(captureFailure(res.errCode)),
      });
    });
  }
  return new Promise((resolve) => {
    wx.startFacialRecognitionVerify({
      userIdKey: started.userIdKey,
      checkAliveType: 2,
      success: (res) => resolve({ ok: true, proof: { verifyResult: res.verifyResult } }),
      fail: (res) => resolve(captureFailure(res.errCode)),
    });
  });
}

export function confirmFaceVerify(proof: FaceConfirmRequest): Promise<ResponseOf<'face', 'confirm'>> {
  return callCloud('face', 'confirm', proof);
}

export function getFaceStatus(): Promise<ResponseOf<'face', 'status'>> {
  return callCloud('face', 'status', {});
}
