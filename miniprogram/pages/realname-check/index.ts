import { checkRealname, openCityCheck, takeCityCheckCode } from '../../services/citycheck';
import { isSandbox } from '../../services/cloud';
import { authorizeCityCheckInSandbox, type DemoChoice, listDemoIdentities } from '../../services/sandbox';
import { ERRORS, messageOf } from '../../shared/errors';
import { checkIdCard } from '../../shared/idcard';
import { checkName } from '../../shared/person';
import { bindingView, type BindingView } from '../../utils/binding';
import { NOTICES } from '../../shared/consent';

/**
 * form → consent (WeChat's consent page; in the sandbox, its stand-in) → checking → done | failed.
 * The typed name and ID number stay on the page only until the server has them.
 */
type Step = 'form' | 'consent' | 'checking' | 'done' | 'failed';

interface ValueEvent<T> {
  detail: T;
}

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
  data: {
    /** The notice agreed to (shared/consent.ts: the server records its version). */
    noticeText: NOTICES.wxcheck.text,
    step: 'form' as Step,
    sandbox: false,
    name: '',
    idCard: '',
    consent: false,
    nameError: '',
    idError: '',
    consentError: '',
    formError: '',
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
    onNameChange(e: ValueEvent<string>) {
      this.setData({ name: e.detail, nameError: this.data.nameError && messageOf(checkName(e.detail)) });
    },
    onNameBlur() {
      if (this.data.name) this.setData({ nameError: messageOf(checkName(this.data.name)) });
    },
    onIdChange(e: ValueEvent<string>) {
      this.setData({ idCard: e.detail, idError: this.data.idError && messageOf(checkIdCard(e.detail)) });
    },
    onIdBlur() {
      if (this.data.idCard) this.setData({ idError: messageOf(checkIdCard(this.data.idCard)) });
    },
    onConsentChange(e: ValueEvent<{ value: string[] }>) {
      this.setData({ consent: e.detail.value.indexOf('agree') >= 0, consentError: '' });
    },

    /** Checks the form, then sends the user to WeChat's consent page (the sandbox: its stand-in). */
    async onAuthorize(): Promise<void> {
      const name = checkName(this.data.name);
      const id = checkIdCard(this.data.idCard);
      const consent = this.data.consent;
      this.setData({
        nameError: messageOf(name),
        idError: messageOf(id),
        consentError: consent ? '' : ERRORS.CONSENT_REQUIRED,
        formError: '',
        notice: '',
      });
      if (!name.ok || !id.ok || !consent) return;
      this.setData({ name: name.value, idCard: id.value });
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
