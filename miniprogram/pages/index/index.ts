import { isSandbox } from '../../services/cloud';
import { getFaceStatus } from '../../services/face';
import { ping } from '../../services/ping';
import { sandboxTarget } from '../../services/sandbox';
import { bindingView, type BindingView } from '../../utils/binding';

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
    },
  },
  methods: {
    async loadStatus(): Promise<void> {
      const res = await getFaceStatus();
      if (res.ok) this.setData({ statusLoaded: true, statusError: '', bindings: res.bindings.map(bindingView) });
      else this.setData({ statusError: res.message });
    },
    async onPing() {
      this.setData({ loading: true, error: '' });
      const res = await ping();
      if (res.ok) this.setData({ loading: false, openid: res.openid });
      else this.setData({ loading: false, error: res.message });
    },
  },
});
