import { isSandbox } from '../../services/cloud';
import {
  type CaptureOutcome,
  checkFaceSupport,
  confirmFaceVerify,
  runFaceCapture,
  startFaceVerify,
} from '../../services/face';
import { completeFaceInSandbox, type DemoChoice, type FaceOutcome, listDemoIdentities } from '../../services/sandbox';
import type { FaceStartResponse } from '../../shared/contracts';
import { ERRORS, messageOf } from '../../shared/errors';
import { checkIdCard } from '../../shared/idcard';
import { checkName } from '../../shared/person';
import { bindingView, type BindingView } from '../../utils/binding';
import { NOTICES } from '../../shared/consent';

/**
 * checking → form → (capture: the sandbox's face screen) → busy → done | failed; unsupported when the
 * device cannot run face verification.
 */
type Step = 'checking' | 'unsupported' | 'form' | 'capture' | 'busy' | 'done' | 'failed';

/** `detail` of a vant field's `change` (its value) or of a native component's event. */
interface ValueEvent<T> {
  detail: T;
}

Component({
  data: {
    /** The notice agreed to (shared/consent.ts: the server records its version). */
    noticeText: NOTICES.face.text,
    step: 'checking' as Step,
    sandbox: false,
    unsupportedMessage: '',
    // The form. Name and ID number live here only until the server has them.
    name: '',
    idCard: '',
    consent: false,
    nameError: '',
    idError: '',
    consentError: '',
    formError: '',
    starting: false,
    /** The server's credential for the capture step (no personal data). */
    started: null as FaceStartResponse | null,
    busyText: '',
    // The sandbox's face screen.
    choosing: false,
    choices: [] as DemoChoice[],
    // The outcome.
    failMessage: '',
    cancelled: false,
    result: null as BindingView | null,
  },
  lifetimes: {
    async attached() {
      this.setData({ sandbox: isSandbox() });
      const support = await checkFaceSupport();
      if (support.ok) this.setData({ step: 'form' });
      else this.setData({ step: 'unsupported', unsupportedMessage: support.message });
    },
  },
  methods: {
    onNameChange(e: ValueEvent<string>) {
      // Once an error shows, it follows the typing so it disappears as soon as the value is right.
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
    /** The native `<checkbox-group>`: `detail.value` lists the ticked values. */
    onConsentChange(e: ValueEvent<{ value: string[] }>) {
      const consent = e.detail.value.indexOf('agree') >= 0;
      this.setData({ consent, consentError: '' });
    },

    async onStart(): Promise<void> {
      const name = checkName(this.data.name);
      const id = checkIdCard(this.data.idCard);
      const consent = this.data.consent;
      this.setData({
        nameError: messageOf(name),
        idError: messageOf(id),
        consentError: consent ? '' : ERRORS.CONSENT_REQUIRED,
        formError: '',
      });
      if (!name.ok || !id.ok || !consent) return;
      this.setData({ starting: true });
      const res = await startFaceVerify({ name: name.value, idCardNumber: id.value, consent });
      if (!res.ok) {
        this.setData({ starting: false, formError: res.message });
        return;
      }
      // The server holds the identity now: the page keeps none of it.
      this.setData({ starting: false, name: '', idCard: '', started: res });
      if (this.data.sandbox) {
        this.setData({ step: 'capture', choosing: false });
        return;
      }
      this.setData({ step: 'busy', busyText: '正在打开人脸核身…' });
      await this.finishCapture(await runFaceCapture(res));
    },

    onSandboxPass(): Promise<void> {
      return this.completeInSandbox('pass');
    },
    onSandboxFail(): Promise<void> {
      return this.completeInSandbox('fail');
    },
    onSandboxCancel(): Promise<void> {
      return this.completeInSandbox('cancel');
    },
    async onSandboxOther(): Promise<void> {
      const res = await listDemoIdentities();
      if (res.ok) this.setData({ choosing: true, choices: res.choices });
      else this.fail(res.message, false);
    },
    onChooseIdentity(e: { currentTarget: { dataset: { index: number } } }): Promise<void> {
      return this.completeInSandbox('pass', Number(e.currentTarget.dataset.index));
    },
    async completeInSandbox(outcome: FaceOutcome, asIdentity?: number): Promise<void> {
      const started = this.data.started;
      if (!started) return;
      this.setData({ step: 'busy', busyText: '正在完成人脸采集…', choosing: false });
      const res = await completeFaceInSandbox(started, outcome, asIdentity);
      if (res.ok) await this.finishCapture(res.capture);
      else this.fail(res.message, false);
    },

    /** The capture's proof goes to the server, which asks WeChat for the real result. */
    async finishCapture(capture: CaptureOutcome): Promise<void> {
      if (!capture.ok) {
        this.fail(capture.message, capture.code === 'FACE_CANCELLED');
        return;
      }
      this.setData({ step: 'busy', busyText: '正在确认核身结果…' });
      const res = await confirmFaceVerify(capture.proof);
      if (res.ok) this.setData({ step: 'done', started: null, result: bindingView(res.binding) });
      else this.fail(res.message, res.code === 'FACE_CANCELLED');
    },
    fail(message: string, cancelled: boolean): void {
      this.setData({ step: 'failed', started: null, failMessage: message, cancelled });
    },

    onRetry() {
      this.setData({ step: 'form', failMessage: '', cancelled: false, formError: '' });
    },
    /** Face must never be the only way: back to the home page, which lists every method offered. */
    onUseOther() {
      wx.navigateBack();
    },
    onBack() {
      wx.navigateBack();
    },
  },
});
