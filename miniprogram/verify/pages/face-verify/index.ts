import { isSandbox } from '../../../services/cloud';
import {
  type CaptureOutcome,
  checkFaceSupport,
  confirmFaceVerify,
  runFaceCapture,
  startFaceVerify,
} from '../../../services/face';
import {
  completeFaceInSandbox,
  type DemoChoice,
  type FaceOutcome,
  listDemoIdentities,
} from '../../../services/sandbox';
import type { FaceStartResponse } from '../../../shared/contracts';
import { bindingView, type BindingView } from '../../../utils/binding';
import { NOTICES } from '../../../shared/consent';
import { identityForm } from '../../utils/identity-form';

/**
 * checking → form → (capture: the sandbox's face screen) → busy → done | failed; unsupported when the
 * device cannot run face verification.
 */
type Step = 'checking' | 'unsupported' | 'form' | 'capture' | 'busy' | 'done' | 'failed';

Component({
  // The form: name, ID number, consent (verify/utils/identity-form.ts).
  behaviors: [identityForm],
  data: {
    /** The notice agreed to (shared/consent.ts: the server records its version). */
    noticeText: NOTICES.face.text,
    step: 'checking' as Step,
    sandbox: false,
    unsupportedMessage: '',
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
    async onStart(): Promise<void> {
      const identity = this.checkIdentityForm();
      if (!identity) return;
      this.setData({ starting: true });
      const res = await startFaceVerify({ ...identity, consent: true });
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
