import { getIdentityMethods } from '../../../services/identity';
import { decideReview, reviewQueue } from '../../../services/review';
import type { ReviewRequestView } from '../../../shared/contracts';
import { DOC_LABELS, MAX_DOC_NUMBER, MAX_REVIEW_REASON, normalizeDocNumber } from '../../../shared/documents';
import { ERRORS } from '../../../shared/errors';
import { formatTime } from '../../../utils/binding';
import { loadable } from '../../../utils/loadable';

/** loading → queue | forbidden (not a reviewer) | failed. */
type Step = 'loading' | 'queue' | 'forbidden' | 'failed';

interface ValueEvent<T> {
  detail: T;
}

interface QueueItem {
  requestId: string;
  docLabel: string;
  maskedName: string;
  maskedNumber: string;
  submittedAt: string;
  /** An approval that was interrupted: approving it again finishes it. */
  interrupted: boolean;
  /** The reviewer's own request: another reviewer decides it. */
  own: boolean;
}

function itemOf(request: ReviewRequestView): QueueItem {
  return {
    requestId: request.requestId,
    docLabel: DOC_LABELS[request.docType],
    maskedName: request.maskedName,
    maskedNumber: request.maskedNumber,
    submittedAt: formatTime(request.submittedAt),
    interrupted: request.state === 'approving',
    own: request.own === true,
  };
}

Component({
  // loading → queue | forbidden | failed with a retry (utils/loadable.ts).
  behaviors: [loadable],
  data: {
    step: 'loading' as Step,
    items: [] as QueueItem[],
    /** The request being approved (the number field shows), or ''. */
    approving: '',
    /** The number as the reviewer reads it off the original document. */
    docNumber: '',
    numberError: '',
    /** The request being rejected (its reason field shows), or ''. */
    rejecting: '',
    reason: '',
    reasonError: '',
    busy: '',
    /** What happened to the last decision (shown above the queue). */
    notice: '',
    maxReason: MAX_REVIEW_REASON,
    maxNumber: MAX_DOC_NUMBER,
  },
  methods: {
    async load(): Promise<void> {
      const access = await getIdentityMethods();
      if (!access.ok) {
        this.loadFailed(access.message);
        return;
      }
      if (!access.reviewer) {
        this.setData({ step: 'forbidden' });
        return;
      }
      await this.refresh();
    },
    async refresh(): Promise<void> {
      const res = await reviewQueue();
      if (res.ok) this.setData({ step: 'queue', items: res.requests.map(itemOf) });
      else this.loadFailed(res.message);
    },

    onApprove(e: { currentTarget: { dataset: { id: string } } }) {
      this.setData({ approving: e.currentTarget.dataset.id, docNumber: '', numberError: '', rejecting: '' });
    },
    onNumberChange(e: ValueEvent<string>) {
      this.setData({ docNumber: e.detail, numberError: '' });
    },
    onCancelApprove() {
      this.setData({ approving: '', docNumber: '', numberError: '' });
    },
    onConfirmApprove(): Promise<void> {
      const docNumber = normalizeDocNumber(this.data.docNumber);
      if (!docNumber) {
        this.setData({ numberError: ERRORS.REVIEW_NUMBER_REQUIRED });
        return Promise.resolve();
      }
      return this.decide(this.data.approving, true, { docNumber });
    },
    onReject(e: { currentTarget: { dataset: { id: string } } }) {
      this.setData({ rejecting: e.currentTarget.dataset.id, reason: '', reasonError: '', approving: '' });
    },
    onReasonChange(e: ValueEvent<string>) {
      this.setData({ reason: e.detail, reasonError: '' });
    },
    onCancelReject() {
      this.setData({ rejecting: '', reason: '', reasonError: '' });
    },
    onConfirmReject(): Promise<void> {
      const reason = this.data.reason.trim();
      if (!reason || Array.from(reason).length > MAX_REVIEW_REASON) {
        this.setData({ reasonError: ERRORS.REVIEW_REASON_REQUIRED });
        return Promise.resolve();
      }
      return this.decide(this.data.rejecting, false, { reason });
    },
    async decide(requestId: string, approve: boolean, extra: { docNumber?: string; reason?: string }): Promise<void> {
      this.setData({ busy: requestId, notice: '' });
      const res = await decideReview({ requestId, approve, ...extra });
      this.setData({ busy: '' });
      if (!res.ok && res.code === 'REVIEW_NUMBER_MISMATCH') {
        // Keep the field open: the reviewer re-reads the original, or rejects.
        this.setData({ numberError: res.message });
        return;
      }
      this.setData({ approving: '', docNumber: '', rejecting: '', reason: '' });
      if (res.ok) {
        this.setData({ notice: approve ? '已通过：申请人的实名认证已完成' : '已驳回：申请人会看到您填写的原因' });
      } else {
        this.setData({ notice: res.message });
      }
      await this.refresh();
    },
  },
});
