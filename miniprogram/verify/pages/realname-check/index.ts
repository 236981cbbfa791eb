import { checkRealname, openCityCheck, takeCityCheckCode } from '../../../services/citycheck';
import { isSandbox } from '../../../services/cloud';
import { authorizeCityCheckInSandbox, type DemoChoice, listDemoIdentities } from '../../../services/sandbox';
import { bindingView, type BindingView } from '../../../utils/binding';
import { NOTICES } from '../../../shared/consent';
import { identityForm } from '../../utils/identity-form';

/**
 * form → consent (WeChat's consent page; in the sandbox, its stand-in) → checking → done | failed.
 * The typed name and ID number stay on the page only until the server has them.
 */
type Step = 'form' | 'consent' | 'checking' | 'done' | 'failed';

/** Failures about the code or the way to WeChat, not the identity: the form stays filled for another try. */
const RETRY_WITH_FORM: readonly string[] = [
  'REALNAME_CHECK_CODE_INVALID',
  'REALNAME_CHECK_CODE_USED',
  'WECHAT_BUSY',
  'NETWORK',
  'RATE_LIMITED',
];

const NO_CODE_MESSAGE = '没有收到微信的授权结果：如果您已同意，请再点一次“去微信授权”；未同意则不会校验。';

Component({
  // The form: name, ID number, consent (verify/utils/identity-form.ts).
  behaviors: [identityForm],
  data: {
    /** The notice agreed to (shared/consent.ts: the server records its version). */
    noticeText: NOTICES.wxcheck.text,
    step: 'form' as Step,
    sandbox: false,
    /** The consent page was opened and no code came back (yet). */
    notice: '',
    choices: [] as DemoChoice[],
    failMessage: '',
    result: null as BindingView | null,
  },
  lifetimes: {
    attached() {
      this.setData({ sandbox: isSandbox() });
    },
  },
  pageLifetimes: {
    /** Back from WeChat's consent page: App.onShow has kept its code, if it sent one. */
    show() {
      if (this.data.step !== 'consent' || this.data.sandbox) return;
      const code = takeCityCheckCode();
      if (code) void this.check(code);
      else this.setData({ notice: NO_CODE_MESSAGE });
    },
  },
  methods: {
    /** Checks the form, then sends the user to WeChat's consent page (the sandbox: its stand-in). */
    async onAuthorize(): Promise<void> {
      this.setData({ notice: '' });
      const identity = this.checkIdentityForm();
      if (!identity) return;
      this.setData({ name: identity.name, idCard: identity.idCardNumber });
      if (this.data.sandbox) {
        const demo = await listDemoIdentities();
        if (demo.ok) this.setData({ step: 'consent', choices: demo.choices });
        else this.setData({ formError: demo.message });
        return;
      }
      // 'consent' before WeChat leaves: the return may be shown before `success` answers.
      this.setData({ step: 'consent' });
      const opened = await openCityCheck();
      if (!opened.ok) this.setData({ step: 'form', formError: opened.message });
    },
    onReopen(): Promise<void> {
      this.setData({ step: 'form' });
      return this.onAuthorize();
    },

    /** The sandbox's consent page: WeChat Pay knows the user as this demo identity. */
    onSandboxConsent(e: { currentTarget: { dataset: { index: number } } }): Promise<void> {
      return this.consentInSandbox(Number(e.currentTarget.dataset.index));
    },
    /** …or the user never gave WeChat Pay a real name. */
    onSandboxNoRealname(): Promise<void> {
      return this.consentInSandbox(undefined);
    },
    async consentInSandbox(index: number | undefined): Promise<void> {
      this.setData({ step: 'checking' });
      const res = await authorizeCityCheckInSandbox(index);
      if (res.ok) await this.check(res.code);
      else this.fail(res.message);
    },

    async check(code: string): Promise<void> {
      this.setData({ step: 'checking', notice: '' });
      const res = await checkRealname({ name: this.data.name, idCardNumber: this.data.idCard, code, consent: true });
      if (res.ok) this.setData({ step: 'done', name: '', idCard: '', result: bindingView(res.binding) });
      else if (RETRY_WITH_FORM.indexOf(res.code) >= 0) this.setData({ step: 'form', formError: res.message });
      // A verdict on the identity: the page keeps it no longer.
      else this.fail(res.message);
    },
    fail(message: string): void {
      this.setData({ step: 'failed', failMessage: message, name: '', idCard: '' });
    },
    onRetry() {
      this.setData({ step: 'form', failMessage: '', consent: false });
    },
    onBack() {
      wx.navigateBack();
    },
  },
});
