/** How a verified identity (masked by the server) is shown: the `binding` template's data. */
import type { Binding, VerificationMethod } from '../shared/contracts';
import { DOC_LABELS } from '../shared/documents';

export interface BindingView {
  method: VerificationMethod;
  methodLabel: string;
  maskedName: string;
  /** The document's label (身份证号 for a mainland ID card). */
  docLabel: string;
  maskedIdCard: string;
  /** Local time, `YYYY-MM-DD HH:mm`. */
  verifiedAt: string;
  inRoster: boolean;
}

export const METHOD_LABELS: Record<VerificationMethod, string> = {
  face: '人脸核身',
  wxpay: '微信支付实名',
  wxcheck: '实名信息校验',
  manual: '人工核验',
};

const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

export function formatTime(iso: string): string {
  const date = new Date(iso);
  if (isNaN(date.getTime())) return '';
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`
  );
}

export function bindingView(binding: Binding): BindingView {
  return {
    method: binding.method,
    methodLabel: METHOD_LABELS[binding.method],
    maskedName: binding.maskedName,
    docLabel: binding.docType === 'id_card' ? '身份证号' : DOC_LABELS[binding.docType],
    maskedIdCard: binding.maskedIdCard,
    verifiedAt: formatTime(binding.verifiedAt),
    inRoster: binding.inRoster,
  };
}
