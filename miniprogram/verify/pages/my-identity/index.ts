import { getMyIdentity, withdrawIdentity } from '../../../services/identity';
import type { ConsentView, VerificationMethod } from '../../../shared/contracts';
import { bindingView, formatTime, METHOD_LABELS, type BindingView } from '../../../utils/binding';
import { loadable } from '../../../utils/loadable';

/**
 * 我的实名信息: what the person holds (masked bindings) and what they agreed to (consent records),
 * and withdrawal: one method, or everything. loading → ready | failed.
 */
type Step = 'loading' | 'ready' | 'failed';

interface ConsentItem {
  key: string;
  methodLabel: string;
  purpose: string;
  version: string;
  at: string;
}

function consentItem(consent: ConsentView, index: number): ConsentItem {
  return {
    key: `${consent.method}-${index}`,
    methodLabel: METHOD_LABELS[consent.method],
    purpose: consent.purpose,
    version: consent.version,
    at: formatTime(consent.at),
  };
}

Component({
  // loading → ready | failed with a retry (utils/loadable.ts).
  behaviors: [loadable],
  data: {
    step: 'loading' as Step,
    bindings: [] as BindingView[],
    consents: [] as ConsentItem[],
    /** The method whose withdrawal waits for confirmation, 'all', or ''. */
    confirming: '',
    busy: false,
    notice: '',
  },
  methods: {
    async load(): Promise<void> {
      const res = await getMyIdentity();
      if (!res.ok) {
        this.loadFailed(res.message);
        return;
      }
      this.setData({
        step: 'ready',
        bindings: res.bindings.map(bindingView),
        consents: res.consents.map(consentItem),
      });
    },
    onWithdraw(e: { currentTarget: { dataset: { method: string } } }) {
      this.setData({ confirming: e.currentTarget.dataset.method, notice: '' });
    },
    onCancel() {
      this.setData({ confirming: '' });
    },
    async onConfirm(): Promise<void> {
      const target = this.data.confirming;
      if (!target) return;
      this.setData({ busy: true });
      const res = await withdrawIdentity(target === 'all' ? undefined : (target as VerificationMethod));
      this.setData({ busy: false, confirming: '' });
      if (!res.ok) {
        this.setData({ notice: res.message });
        return;
      }
      this.setData({ notice: '已撤回并删除。需要时可以重新认证。' });
      await this.load();
    },
  },
});
