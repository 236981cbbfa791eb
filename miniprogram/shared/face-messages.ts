/**
 * Chinese messages for the face-verification codes the client sees, shared by the pages and the
 * server. Plain data and functions only: no `wx`, no Node APIs.
 *
 * Sources: the `wx.startFacialRecognitionVerify` callback table (10001–10069, 90100–90199) and the
 * `verify_ret` enumeration of queryVerifyInfo, which `wx.requestFacialVerify` failures share
 * (90001–90024, 90110: https://developers.weixin.qq.com/miniprogram/dev/server/API/face/api_queryverifyinfo).
 */

const RETRY = '请稍后重试';
const RESTART = '请重启微信或升级到最新版本后重试';
const CAMERA = '请在系统设置中允许微信使用相机后重试';

/** errCode → message. Exported so tests (and docs) can list what is covered. */
export const FACE_CLIENT_MESSAGES: Readonly<Record<number, string>> = {
  // --- first generation: startFacialRecognitionVerify ---
  10001: '核身参数错误，请返回重新填写',
  10002: '未检测到人脸，请正对屏幕、在光线充足处重试',
  10003: '身份证号与姓名不匹配，请核对后重试',
  10004: '人脸与身份证照片比对不一致，须本人操作',
  10005: '正在检测中或光线过强，请稍候或调整光线后重试',
  10006: '本小程序未开通人脸核身能力，请联系客服',
  10007: '未能获取人脸图像，请重试',
  10008: '人脸比对服务异常，' + RETRY,
  10009: '权威库中没有您的参考照片，请改用其他方式认证',
  10010: '照片质量过低，请在光线充足处正对镜头重试',
  10011: '该身份证号未启用，请核对后重试',
  10012: '身份信息校验未通过，请核对姓名和身份证号',
  10013: '身份信息校验未通过，请核对姓名和身份证号',
  10014: '身份信息校验未通过，请核对姓名和身份证号',
  10015: '人脸比对服务暂不可用，' + RETRY,
  10016: '人脸图像保存失败，' + RETRY,
  10017: '核身凭据无效，请重新开始',
  10018: '核身信息不存在或已过期，请重新开始',
  10020: '核身超时，请重试',
  10021: '请勿重复提交，正在返回上次的核身结果',
  10022: '请勿重复提交，正在返回上次的核身结果',
  10026: '权威库中查不到该身份证号，请核对后重试',
  10027: '未能识别朗读的数字，请在安静环境中大声朗读',
  10028: '未检测到唇动，请按提示朗读数字',
  10029: '核身服务响应超时，' + RETRY,
  10030: '身份证信息校验失败，' + RETRY,
  10031: '小程序未设置名称，暂无法使用人脸核身，请联系客服',
  10032: '该身份证号暂不支持核验，请改用其他方式认证',
  10040: '核身请求编码错误，请联系客服',
  10041: '核身凭证无效或已过期，请重新开始',
  10042: '操作过于频繁，请稍后再试',
  10045: '核身系统错误，' + RETRY,
  10052: '今日核身次数已达上限，请明天再试',
  10057: '检测过程中人脸发生变化，须本人完成全部动作',
  10066: '重复的核身请求，请重新开始',
  10069: '活体检测暂不可用，' + RETRY,
  // --- client outcomes (verify_ret of the second generation) ---
  90001: '当前设备不支持人脸核身',
  90002: '已取消人脸核身',
  90003: '已取消人脸核身',
  90004: '已取消人脸核身',
  90005: '已取消人脸核身',
  90006: '已取消人脸核身',
  90007: '网络异常，请检查网络后重试',
  90008: '未授权使用相机，' + CAMERA,
  90009: '未授权使用麦克风，请在系统设置中允许微信使用麦克风后重试',
  90010: '未授权使用相机和麦克风，请在系统设置中允许后重试',
  90011: '人脸采集无效，请正对屏幕重试',
  90012: '人脸数据上传失败，请检查网络后重试',
  90013: '人脸识别组件初始化失败，' + RESTART,
  90014: '人脸数据上传未就绪，请重试',
  90015: '获取人脸核身配置失败，' + RETRY,
  90016: '相机预览失败，' + RESTART,
  90017: '识别超时，请重试',
  90018: '人脸核身系统错误，' + RETRY,
  90019: '人脸数据上传失败，请检查网络后重试',
  90020: '人脸数据上传失败，请检查网络后重试',
  90021: '人脸数据上传失败，请检查网络后重试',
  90022: '获取核身页面信息失败，' + RETRY,
  90023: '人脸追踪失败，请保持面部在取景框内',
  90024: '已退出人脸核身',
  // --- client-side errors of both generations ---
  90100: '已取消人脸核身',
  90101: '未完成授权，无法进行人脸核身',
  90102: '人脸识别组件加载失败，' + RESTART,
  90103: '人脸数据上传失败，请检查网络后重试',
  90104: '获取人脸核身配置失败，' + RETRY,
  90105: '核身确认页加载失败，' + RETRY,
  90106: '相机启动失败，' + CAMERA,
  90107: '检测超时，请重试',
  90108: '手机晃动过大，请保持稳定后重试',
  90109: '当前设备不支持人脸核身',
  90110: '获取核身协议信息失败，' + RETRY,
  90199: '人脸核身发生未知错误，' + RESTART,
};

/** Outcomes where the user chose to stop: not an error worth alarming about. */
export const FACE_CANCEL_CODES: readonly number[] = [90002, 90003, 90004, 90005, 90006, 90024, 90100];

export function isFaceCancelled(errCode: number): boolean {
  return FACE_CANCEL_CODES.indexOf(errCode) >= 0;
}

/** The message for a face-verification errCode; unknown codes get a generic text with the code. */
export function faceClientMessage(errCode: number): string {
  const message = Object.prototype.hasOwnProperty.call(FACE_CLIENT_MESSAGES, errCode)
    ? FACE_CLIENT_MESSAGES[errCode]
    : undefined;
  return message ?? `人脸核身未完成（错误码 ${errCode}），${RETRY}`;
}

/** What to do when face verification is impossible on this device. */
export const FACE_FALLBACK_HINT = '您可以选择其他认证方式（如实名信息校验或人工核验），或联系客服协助认证。';

/** `wx.checkIsSupportFacialRecognition` fail codes (Android only; iOS gives none). */
export function deviceSupportMessage(errCode?: number): string {
  let reason: string;
  if (errCode === 10001) reason = '您的设备没有前置摄像头，无法进行人脸核身';
  else if (errCode === 10002) reason = '未能下载人脸识别所需的模型，请检查网络后重试';
  else if (errCode === 10003) reason = '当前设备暂不支持人脸核身';
  else reason = '当前设备无法使用人脸核身';
  return `${reason}。${FACE_FALLBACK_HINT}`;
}
