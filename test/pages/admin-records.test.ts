/**
 * The admin records page (admin subpackage: coverage, person lookup, audit, export) against a real
 * sandbox. Verifications go through the gateway here (one page per file, see test/helpers/simulate.ts).
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import { config } from '../../miniprogram/config';
import { ERRORS } from '../../miniprogram/shared/errors';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { installFileBridge } from '../helpers/bridge-files';
import { html, type } from '../helpers/page-actions';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const ADMIN = 'o_records_page_admin';
const PERSON = { name: '李雷', idCardNumber: makeIdCard('310104', '19870506', '017') };

let sandbox: SandboxProcess;

beforeAll(async () => {
  sandbox = await startSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN } });
  config.mode = 'sandbox';
  config.sandboxUrl = sandbox.url;
  const { code } = (await postJson('/sandbox/citycheck/authorize', { openid: 'o_records_person', ...PERSON })).body as {
    code: string;
  };
  const checked = await postJson(
    '/gateway/functions/realname',
    { action: 'check', ...PERSON, code, consent: true, noticeVersion: noticeVersion('wxcheck') },
    { 'X-WX-OPENID': 'o_records_person' },
  );
  expect(checked.body).toMatchObject({ ok: true });
});
afterAll(async () => {
  const { persistedText } = await sandbox.stop();
  expect(persistedText).not.toContain(PERSON.idCardNumber);
  expect(persistedText).not.toContain(PERSON.name);
});
beforeEach(() => {
  installBridge();
  installFileBridge();
});

async function open(openid: string): Promise<Rendered> {
  config.sandboxOpenid = openid;
  const page = renderPage('admin/pages/records');
  await waitFor(() => page.data.step !== 'loading');
  return page;
}

describe('admin records page', () => {
  it('shows coverage, finds a person masked, lists the audit by person, exports', async () => {
    const page = await open(ADMIN);
    expect(page.data.step).toBe('ready');
    expect(page.data.coverage).toMatchObject({ rosterTotal: 0, verified: 0, outsideRoster: 1 });

    tapButton(page, '#lookup');
    await waitFor(() => page.data.lookupError !== '');
    expect(page.data.lookupError).toBe(ERRORS.ID_REQUIRED);
    await type(page, '#lookup-id', PERSON.idCardNumber);
    tapButton(page, '#lookup');
    await waitFor(() => page.data.lookupDone);
    expect(page.data.lookupBindings).toEqual([expect.objectContaining({ method: 'wxcheck', maskedName: '李*' })]);
    expect(page.data.lookupInRoster).toBe(false);
    expect(page.data.lookupId).toBe('');
    expect(html(page)).not.toContain(PERSON.idCardNumber);

    await type(page, '#audit-id', PERSON.idCardNumber);
    tapButton(page, '#audit');
    await waitFor(() => page.data.auditDone);
    const actions = (page.data.entries as { action: string }[]).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(['realname.check', 'admin.lookup']));

    tapButton(page, '#export');
    await waitFor(() => page.data.exportNotice !== '');
    expect(page.data.exportNotice).toContain('已导出');
  });

  it('"加载更多" appends the older pages of the same query, without repeats, until there are none', async () => {
    // More than one page (200) of entries, each naming a different person: admin lookups.
    const lookups = Array.from({ length: 230 }, (_, i) =>
      makeIdCard('320102', '19900101', String(i + 100).padStart(3, '0')),
    );
    for (let i = 0; i < lookups.length; i += 10) {
      const answers = await Promise.all(
        lookups
          .slice(i, i + 10)
          .map((idCardNumber) =>
            postJson('/gateway/functions/admin', { action: 'lookup', idCardNumber }, { 'X-WX-OPENID': ADMIN }),
          ),
      );
      for (const a of answers) expect(a.body).toMatchObject({ ok: true });
    }
    const page = await open(ADMIN);
    tapButton(page, '#audit');
    await waitFor(() => page.data.auditDone, 15_000);
    type Entry = { key: string; action: string; detail: string };
    const first = page.data.entries as Entry[];
    expect(first).toHaveLength(200);
    expect(page.data.auditNext).not.toBe('');
    expect(page.querySelector('#more')).toBeTruthy();

    // The network fails on the next page: said where the query's own failures are, nothing lost.
    const wx = (globalThis as unknown as { wx: { request: (o: { fail?: (e: { errMsg: string }) => void }) => void } })
      .wx;
    const request = wx.request;
    wx.request = (option) => option.fail?.({ errMsg: 'request:fail timeout' });
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    tapButton(page, '#more');
    await waitFor(() => page.data.auditError !== '', 15_000);
    wx.request = request;
    expect(warn).toHaveBeenCalledWith('[callCloud] admin.audit failed:', 'request:fail timeout');
    warn.mockRestore();
    expect(page.data.auditError).toBe(ERRORS.NETWORK);
    expect(page.data.entries).toHaveLength(200);
    expect(page.querySelector('#more')).toBeTruthy();

    tapButton(page, '#more');
    await waitFor(() => (page.data.entries as Entry[]).length > 200 && !page.data.loadingMore, 15_000);
    expect(page.data.auditError).toBe('');
    const all = page.data.entries as Entry[];
    // The first page kept as it was, the next appended after it.
    expect(all.slice(0, 200)).toEqual(first);
    // Every lookup once, whichever page it came on; no entry twice.
    const lookedUp = all.filter((e) => e.action === 'admin.lookup').map((e) => e.detail);
    expect(lookedUp.filter((d) => d.includes('对象'))).toHaveLength(lookups.length + 1);
    expect(new Set(lookedUp).size).toBe(lookedUp.length);
    // The last page: no cursor, no button.
    expect(page.data.auditNext).toBe('');
    expect(page.querySelector('#more')).toBeUndefined();
    expect(html(page)).not.toContain(lookups[0]);
  });

  it('someone who is not an admin is told who is, and sees nothing', async () => {
    const page = await open('o_records_nobody');
    expect(page.data.step).toBe('forbidden');
    expect(page.data.coverage).toBeNull();
    expect(html(page)).toContain('ROSTER_ADMIN_OPENIDS');
  });
});
