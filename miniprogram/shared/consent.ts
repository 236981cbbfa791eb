/**
 * The notices a person agrees to before a method collects anything: one text per method, shown by
 * its page and recorded by the server with its version (a hash of the text), so a consent record
 * says exactly what was agreed to. Change a text here and its version changes everywhere: a page
 * still showing the old text is refused (CONSENT_OUTDATED) rather than recorded as agreeing to the
 * new one. PIPL art. 29 asks for separate consent to sensitive personal information (ID numbers,
 * face); art. 15 for withdrawal, which "我的实名信息" offers.
 */
import type { VerificationMethod } from './contracts';

export interface Notice {
  /** What the information is for, in a few words (stored with the consent record). */
  purpose: string;
  /** The text the page shows above the consent box. */
  text: string;
}

const KEEP =
  '核验通过后，我们加密保存姓名和证件号码，仅用于本服务的实名认证，页面只显示脱敏后的信息；您可以随时在“我的实名信息”中撤回并删除。';

export const NOTICES: Readonly<Record<VerificationMethod, Notice>> = {
  face: {
    purpose: '人脸核身：确认本人并完成实名认证',
    text: `人脸核身用来确认是您本人在操作：您填写的姓名和身份证号会发送给微信“人脸核身”服务，与您现场拍摄的人脸比对（人脸信息由微信处理，本服务不保存）。${KEEP}`,
  },
  wxcheck: {
    purpose: '实名信息校验：核对姓名与身份证号并完成实名认证',
    text: `点击下方按钮后，微信会打开“实名信息校验”授权页面，您同意后，我们把您填写的姓名和身份证号发送给微信，与您在微信支付的实名信息核对。${KEEP}`,
  },
  manual: {
    purpose: '人工核验：工作人员核对证件并完成实名认证',
    text: `您提交的姓名和证件号码加密保存，只有本机构的审核人员能看到脱敏后的内容，用于核对您的证件原件；未通过时会显示原因。${KEEP}`,
  },
  wxpay: {
    purpose: '微信支付实名授权：取得微信支付核验过的姓名与身份证号',
    text: `为确认您的真实身份，本小程序请求获取您在微信支付实名认证过、并由微信支付核验的姓名和身份证号。${KEEP}`,
  },
};

/** 32-bit FNV-1a over UTF-16 code units, from a seed. */
function fnv1a(text: string, seed: number): string {
  let hash = seed >>> 0;
  for (let i = 0; i < text.length; i += 1) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return ('0000000' + hash.toString(16)).slice(-8);
}

/**
 * The version of a notice: 16 hex characters (two FNV-1a lanes over purpose and text). It names a
 * text, it protects nothing, so a fast hash the mini-program can compute without crypto suffices.
 */
export function noticeVersion(method: VerificationMethod): string {
  const notice = NOTICES[method];
  const content = `${notice.purpose}\n${notice.text}`;
  return fnv1a(content, 0x811c9dc5) + fnv1a(content, 0x050c5d1f);
}
