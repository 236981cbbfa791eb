import { myReviews, submitReview } from '../../../services/review';
import type { ReviewRequestView } from '../../../shared/contracts';
import { checkDocument, checkDocumentName, DOC_LABELS, REVIEW_DOC_TYPES } from '../../../shared/documents';
import type { ReviewDocType } from '../../../shared/documents';
import { ERRORS, messageOf } from '../../../shared/errors';
import { formatTime } from '../../../utils/binding';
import { loadable } from '../../../utils/loadable';
import { NOTICES } from '../../../shared/consent';
import { consentField, type ValueEvent } from '../../utils/identity-form';

/** loading → form (the person's requests, and the form unless one is pending); failed when loading failed. */
type Step = 'loading' | 'form' | 'failed';

/** A request as the page lists it. */
interface RequestView {
  requestId: string;
  docLabel: string;
  maskedName: string;
  maskedNumber: string;
  stateLabel: string;
  state: ReviewRequestView['state'];
  reason: string;
  submittedAt: string;
}

const STATE_LABELS: Record<ReviewRequestView['state'], string> = {
  pending: '待审核',
  approving: '审核中',
  approved: '已通过',
  rejected: '未通过',
};

function viewOf(request: ReviewRequestView): RequestView {
  return {
    requestId: request.requestId,
    docLabel: DOC_LABELS[request.docType],
    maskedName: request.maskedName,
    maskedNumber: request.maskedNumber,
    stateLabel: STATE_LABELS[request.state],
    state: request.state,
    reason: request.reason ?? '',
    submittedAt: formatTime(request.submittedAt),
  };
}

Component({
  // loading → form | failed with a retry (utils/loadable.ts); the consent box (verify/utils/identity-form.ts).
  behaviors: [loadable, consentField],
  data: {
    /** The notice agreed to (shared/consent.ts: the server records its version). */
    noticeText: NOTICES.manual.text,
    step: 'loading' as Step,
    docLabels: REVIEW_DOC_TYPES.map((type) => DOC_LABELS[type]),
    docIndex: -1,
    docLabel: '',
    name: '',
    docNumber: '',
    docTypeError: '',
    nameError: '',
    numberError: '',
    formError: '',
    submitting: false,
    /** The person's requests, newest first. */
    requests: [] as RequestView[],
    pending: false,
  },
  methods: {
    async load(): Promise<void> {
      const res = await myReviews();
      if (!res.ok) {
        this.loadFailed(res.message);
        return;
      }
      const requests = res.requests.map(viewOf);
      this.setData({
        step: 'form',
        requests,
        pending: requests.some((r) => r.state === 'pending' || r.state === 'approving'),
      });
    },
    docType(): ReviewDocType | undefined {
      return REVIEW_DOC_TYPES[this.data.docIndex];
    },
    /** The native picker answers the index chosen. */
    onDocTypeChange(e: ValueEvent<{ value: string }>) {
      const docIndex = Number(e.detail.value);
      const type = REVIEW_DOC_TYPES[docIndex];
      if (!type) return;
      this.setData({
        docIndex,
        docLabel: DOC_LABELS[type],
        docTypeError: '',
        numberError: this.data.docNumber ? messageOf(checkDocument(type, this.data.docNumber)) : '',
      });
    },
    onNameChange(e: ValueEvent<string>) {
      this.setData({ name: e.detail, nameError: this.data.nameError && messageOf(checkDocumentName(e.detail)) });
    },
    onNameBlur() {
      if (this.data.name) this.setData({ nameError: messageOf(checkDocumentName(this.data.name)) });
    },
    onNumberChange(e: ValueEvent<string>) {
      const type = this.docType();
      this.setData({
        docNumber: e.detail,
        numberError: this.data.numberError && type ? messageOf(checkDocument(type, e.detail)) : '',
      });
    },
    onNumberBlur() {
      const type = this.docType();
      if (this.data.docNumber && type)
        this.setData({ numberError: messageOf(checkDocument(type, this.data.docNumber)) });
    },
    async onSubmit(): Promise<void> {
      const type = this.docType();
      const name = checkDocumentName(this.data.name);
      const number = type ? checkDocument(type, this.data.docNumber) : undefined;
      const consent = this.data.consent;
      this.setData({
        docTypeError: type ? '' : ERRORS.DOC_TYPE_INVALID,
        nameError: messageOf(name),
        numberError: number ? messageOf(number) : '',
        consentError: consent ? '' : ERRORS.CONSENT_REQUIRED,
        formError: '',
      });
      if (!type || !name.ok || !number || !number.ok || !consent) return;
      this.setData({ submitting: true });
      const res = await submitReview({ docType: type, name: name.value, docNumber: number.value, consent });
      this.setData({ submitting: false });
      if (!res.ok) {
        this.setData({ formError: res.message });
        return;
      }
      // The server holds it now: the page keeps none of it.
      this.setData({ name: '', docNumber: '', consent: false, docIndex: -1, docLabel: '' });
      await this.reload();
    },
    onBack() {
      wx.navigateBack();
    },
  },
});
