/**
 * The my-identity page (我的实名信息) against a real sandbox: the person's masked bindings and
 * consent records, and withdrawal of one method or everything (the verifications themselves go
 * through the gateway here: one page per file, see test/helpers/simulate.ts).
 */
import { config } from '../../miniprogram/config';
import { NOTICES, noticeVersion } from '../../miniprogram/shared/consent';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { maskIdCard } from '../../miniprogram/shared/mask';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { html, reach } from '../helpers/page-actions';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const PERSON = { name: '韩梅梅', idCardNumber: makeIdCard('320102', '19900214', '026') };

let sandbox: SandboxProcess;

beforeAll(async () => {
  sandbox = await startSandbox();
  config.mode = 'sandbox';
  config.sandboxUrl = sandbox.url;
});
afterAll(async () => {
  const { persistedText } = await sandbox.stop();
  expect(persistedText).not.toContain(PERSON.idCardNumber);
  expect(persistedText).not.toContain(PERSON.name);
});
beforeEach(() => installBridge());

async function cityCheck(openid: string): Promise<void> {
  const { code } = (await postJson('/sandbox/citycheck/authorize', { openid, ...PERSON })).body as { code: string };
  const res = await postJson(
    '/gateway/functions/realname',
    { action: 'check', ...PERSON, code, consent: true, noticeVersion: noticeVersion('wxcheck') },
    { 'X-WX-OPENID': openid },
  );
  expect(res.body).toMatchObject({ ok: true });
}

async function open(openid: string): Promise<Rendered> {
  config.sandboxOpenid = openid;
  const page = renderPage('verify/pages/my-identity');
  await reach(page, 'ready');
  return page;
}

describe('my-identity page', () => {
  it('shows the masked binding and what was agreed to; withdrawing deletes it after a confirmation', async () => {
    await cityCheck('o_my_identity_1');
    const page = await open('o_my_identity_1');
    expect(page.data.bindings).toEqual([
      expect.objectContaining({ method: 'wxcheck', maskedIdCard: maskIdCard(PERSON.idCardNumber) }),
    ]);
    expect(page.data.consents).toEqual([
      expect.objectContaining({
        methodLabel: expect.any(String),
        purpose: NOTICES.wxcheck.purpose,
        version: noticeVersion('wxcheck'),
      }),
    ]);
    expect(html(page)).not.toContain(PERSON.idCardNumber);

    tapButton(page, '#withdraw-wxcheck');
    await waitFor(() => page.data.confirming === 'wxcheck');
    tapButton(page, '#cancel-withdraw');
    await waitFor(() => page.data.confirming === '');
    expect(page.data.bindings).toHaveLength(1);

    tapButton(page, '#withdraw-wxcheck');
    await waitFor(() => page.data.confirming === 'wxcheck');
    tapButton(page, '#confirm-withdraw');
    await waitFor(() => page.data.notice !== '');
    expect(page.data.notice).toContain('已撤回');
    await waitFor(() => page.data.bindings.length === 0);
    expect(page.data.consents).toEqual([]);
    expect(html(page)).toContain('您还没有完成实名认证');
    const status = await postJson(
      '/gateway/functions/face',
      { action: 'status' },
      { 'X-WX-OPENID': 'o_my_identity_1' },
    );
    expect(status.body).toMatchObject({ ok: true, bindings: [] });
  });

  it('withdraws everything at once', async () => {
    await cityCheck('o_my_identity_2');
    const page = await open('o_my_identity_2');
    tapButton(page, '#withdraw-all');
    await waitFor(() => page.data.confirming === 'all');
    tapButton(page, '#confirm-withdraw');
    await waitFor(() => page.data.notice !== '');
    await waitFor(() => page.data.bindings.length === 0 && page.data.consents.length === 0);
    expect(page.querySelector('#withdraw-all')).toBeFalsy();
  });
});
