import { isSandbox } from '../../../services/cloud';
import { fetchRealnameInfo, getRealnameCategories } from '../../../services/realname';
import {
  authorizeRealnameInSandbox,
  type DemoChoice,
  listDemoIdentities,
  type RealnameScenario,
} from '../../../services/sandbox';
import { bindingView, type BindingView } from '../../../utils/binding';
import { loadable } from '../../../utils/loadable';
import { NOTICES } from '../../../shared/consent';

/** loading → ready (the authorization button) → fetching → done | failed. */
type Step = 'loading' | 'ready' | 'fetching' | 'done' | 'failed';

const CANCELLED_MESSAGE = '您已取消或未完成授权，没有分享任何信息。如需认证，可再次授权。';

Component({
  // loading → ready | failed with a retry (utils/loadable.ts).
  behaviors: [loadable],
  data: {
    /** The notice agreed to (shared/consent.ts: the server records its version). */
    noticeText: NOTICES.wxpay.text,
    step: 'loading' as Step,
    sandbox: false,
    /** `[firstId, secondId]` of the mini-program's service category, for the button's `category-id`. */
    categoryId: [] as number[],
    /** Shown without alarm: the user chose not to share. */
    notice: '',
    choices: [] as DemoChoice[],
    result: null as BindingView | null,
  },
  methods: {
    async load(): Promise<void> {
      this.setData({ sandbox: isSandbox(), notice: '' });
      const res = await getRealnameCategories();
      const category = res.ok ? res.categories[0] : undefined;
      if (!res.ok || !category) {
        this.loadFailed(res.ok ? '本小程序尚未设置服务类目，暂无法使用实名信息授权' : res.message);
        return;
      }
      this.setData({ categoryId: [category.firstId, category.secondId] });
      if (this.data.sandbox) {
        const demo = await listDemoIdentities();
        if (!demo.ok) {
          this.loadFailed(demo.message);
          return;
        }
        this.setData({ choices: demo.choices });
      }
      this.setData({ step: 'ready' });
    },

    /** `bindgetrealnameauthinfo`: WeChat hands over an `auth_token` once the user confirmed with the Pay password. */
    async onAuth(e: WechatMiniprogram.GetRealnameAuthInfoEvent): Promise<void> {
      const authToken = e.detail.auth_token;
      if (authToken) await this.fetch(authToken);
      else this.onCancelled();
    },
    /** No auth_token: the user closed WeChat Pay's confirmation (or it did not complete). Nothing was shared. */
    onCancelled(): void {
      this.setData({ notice: CANCELLED_MESSAGE });
    },
    async fetch(authToken: string): Promise<void> {
      this.setData({ step: 'fetching', notice: '' });
      const res = await fetchRealnameInfo(authToken);
      if (res.ok) this.setData({ step: 'done', result: bindingView(res.binding) });
      else this.fail(res.message);
    },
    fail(message: string): void {
      this.setData({ step: 'failed', failMessage: message });
    },

    /** The sandbox's stand-in for the button: the user authorizes as a demo identity. */
    async onSandboxAuthorize(e: { currentTarget: { dataset: { index: number; scenario?: RealnameScenario } } }) {
      const { index, scenario } = e.currentTarget.dataset;
      this.setData({ step: 'fetching', notice: '' });
      const res = await authorizeRealnameInSandbox(Number(index), scenario);
      if (res.ok) await this.fetch(res.authToken);
      else this.fail(res.message);
    },
    onBack() {
      wx.navigateBack();
    },
  },
});
