import { renderPage, tapButton, waitFor } from '../helpers/simulate';

type RequestOption = WechatMiniprogram.RequestOption;

describe('index page', () => {
  let requests: RequestOption[];

  beforeEach(() => {
    requests = [];
    // Platform double: the sandbox gateway answers like the real ping function would.
    (wx as unknown as { request: (o: RequestOption) => void }).request = (option) => {
      requests.push(option);
      const openid = (option.header as Record<string, string>)['X-WX-OPENID'];
      setTimeout(() => {
        option.success?.({
          statusCode: 200,
          data: { ok: true, openid, appid: 'wx0000000000000000', env: 'sandbox', now: new Date().toISOString() },
          header: {},
          cookies: [],
          errMsg: 'request:ok',
        } as never);
      }, 0);
    };
  });

  it('renders with vant components and shows the caller after a tap on 检查连接', async () => {
    const page = renderPage('index');
    const html = page.dom!.innerHTML;
    expect(html).toContain('van-button');
    expect(html).toContain('检查连接');
    expect(page.data.openid).toBe('');

    tapButton(page, '#ping');
    await waitFor(() => page.data.openid !== '');

    expect(requests).toHaveLength(1);
    expect(requests[0]!.url).toMatch(/\/gateway\/functions\/ping$/);
    expect(requests[0]!.data).toEqual({ action: 'ping' });
    expect(page.data.openid).toBe('o_demo_admin');
    expect(page.dom!.innerHTML).toContain('o_demo_admin');
  });

  it('shows the failure message when the call fails', async () => {
    (wx as unknown as { request: (o: RequestOption) => void }).request = (option) => {
      setTimeout(() => option.fail?.({ errMsg: 'request:fail timeout', errno: 0 } as never), 0);
    };
    const page = renderPage('index');
    tapButton(page, '#ping');
    await waitFor(() => page.data.error !== '');
    expect(page.data.error).toBe('网络异常，请检查网络后重试');
    expect(page.data.loading).toBe(false);
  });
});
