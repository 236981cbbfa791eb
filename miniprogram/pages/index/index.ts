import { isSandbox } from '../../services/cloud';
import { getFaceStatus } from '../../services/face';
import { getIdentityMethods } from '../../services/identity';
import { ping } from '../../services/ping';
import { sandboxTarget } from '../../services/sandbox';
import type { VerificationMethod } from '../../shared/contracts';
import { bindingView, type BindingView } from '../../utils/binding';

/** A method as the home page offers it: what it is, and in plain words whom it serves. */
interface MethodEntry {
  method: VerificationMethod;
  title: string;
  label: string;
  url: string;
}

const METHOD_ENTRIES: Record<VerificationMethod, MethodEntry> = {
  wxcheck: {
    method: 'wxcheck',
    title: '实名信息校验',
    label: '持大陆身份证、已在微信支付实名的用户：填写姓名和身份证号，由微信核对，无需刷脸',
    url: '/verify/pages/realname-check/index',
  },
  face: {
    method: 'face',
    title: '人脸核身',
    label: '持大陆身份证的用户：填写姓名和身份证号，由微信比对本人人脸',
    url: '/verify/pages/face-verify/index',
  },
  wxpay: {
    method: 'wxpay',
    title: '微信支付实名授权',
    label: '持大陆身份证、已在微信支付实名的用户：授权微信支付核验过的姓名和身份证号',
    url: '/verify/pages/realname-auth/index',
  },
  manual: {
    method: 'manual',
    title: '人工核验',
    label:
      '港澳台居民、外国人等没有大陆身份证的用户，或不能、不愿使用以上方式时：提交证件（含居民身份证），由工作人员审核',
    url: '/verify/pages/review-submit/index',
  },
};

Component({
  data: {
    sandbox: false,
    sandboxUrl: '',
    sandboxOpenid: '',
    modeLabel: '',
    /** The caller's verified identities (masked), one per method. */
    bindings: [] as BindingView[],
    statusLoaded: false,
    statusError: '',
    /** The methods the server offers, in its order. */
    methods: [] as MethodEntry[],
    methodsLoaded: false,
    methodsError: '',
    /** Face is offered and nothing else: never presented as the only way (the server refuses such a configuration too). */
    faceOnly: false,
    reviewer: false,
    openid: '',
    loading: false,
    error: '',
  },
  lifetimes: {
    attached() {
      const sandbox = isSandbox();
      const target = sandboxTarget();
      this.setData({
        sandbox,
        sandboxUrl: target.url,
        sandboxOpenid: target.openid,
        modeLabel: sandbox ? '本地沙箱' : '云开发',
      });
    },
  },
  pageLifetimes: {
    // Also when coming back from a verification page.
    show() {
      void this.loadStatus();
      void this.loadMethods();
    },
  },
  methods: {
    async loadStatus(): Promise<void> {
      const res = await getFaceStatus();
      if (res.ok) this.setData({ statusLoaded: true, statusError: '', bindings: res.bindings.map(bindingView) });
      else this.setData({ statusError: res.message });
    },
    async loadMethods(): Promise<void> {
      const res = await getIdentityMethods();
      if (!res.ok) {
        this.setData({ methodsError: res.message });
        return;
      }
      const faceOnly = res.methods.every((m) => m === 'face');
      this.setData({
        methodsLoaded: true,
        methodsError: '',
        faceOnly,
        methods: faceOnly ? [] : res.methods.map((m) => METHOD_ENTRIES[m]),
        reviewer: res.reviewer,
      });
    },
    async onPing() {
      this.setData({ loading: true, error: '' });
      const res = await ping();
      if (res.ok) this.setData({ loading: false, openid: res.openid });
      else this.setData({ loading: false, error: res.message });
    },
  },
});
