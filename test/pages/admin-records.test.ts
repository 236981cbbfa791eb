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

  it('someone who is not an admin is told who is, and sees nothing', async () => {
    const page = await open('o_records_nobody');
    expect(page.data.step).toBe('forbidden');
    expect(page.data.coverage).toBeNull();
    expect(html(page)).toContain('ROSTER_ADMIN_OPENIDS');
  });
});
