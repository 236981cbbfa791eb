import { isSandbox } from '../../services/cloud';
import { ping } from '../../services/ping';

Component({
  data: {
    modeLabel: isSandbox() ? '本地沙箱' : '云开发',
    openid: '',
    loading: false,
    error: '',
  },
  methods: {
    async onPing() {
      this.setData({ loading: true, error: '' });
      const res = await ping();
      if (res.ok) this.setData({ loading: false, openid: res.openid });
      else this.setData({ loading: false, error: res.message });
    },
  },
});
