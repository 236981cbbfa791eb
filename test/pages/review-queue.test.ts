/**
 * The review-queue page (the admin subpackage: a reviewer's side of staff verification) against a
 * real sandbox. The people's requests are submitted through the gateway here (their page is
 * test/pages/review-submit.test.ts: one page per file, see test/helpers/simulate.ts).
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import { config } from '../../miniprogram/config';
import { ERRORS } from '../../miniprogram/shared/errors';
import { maskDocNumber } from '../../miniprogram/shared/mask';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { html, type } from '../helpers/page-actions';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const REVIEWER = 'o_queue_page_reviewer';
const TW = { name: '林志明', docType: 'tw_permit', docNumber: '12345678' } as const;
const PASSPORT = { name: 'MARIA LOPEZ', docType: 'passport', docNumber: 'P12345678' } as const;

let sandbox: SandboxProcess;

beforeAll(async () => {
  sandbox = await startSandbox({ functionEnv: { REVIEWER_OPENIDS: REVIEWER } });
  config.mode = 'sandbox';
  config.sandboxUrl = sandbox.url;
});
afterAll(async () => {
  const { persistedText } = await sandbox.stop();
  for (const doc of [TW, PASSPORT]) {
    expect(persistedText).not.toContain(doc.docNumber);
    expect(persistedText).not.toContain(doc.name);
  }
});
beforeEach(() => installBridge());

const review = (openid: string, event: Record<string, unknown>) =>
  postJson('/gateway/functions/review', event, { 'X-WX-OPENID': openid }).then((r) => r.body);

async function open(openid: string): Promise<Rendered> {
  config.sandboxOpenid = openid;
  const page = renderPage('admin/pages/review-queue');
  await waitFor(() => page.data.step !== 'loading');
  return page;
}

describe('review-queue page', () => {
  it('lists pending requests masked; approving binds the person; rejecting needs a reason they read', async () => {
    expect(
      await review('o_queue_tw', { action: 'submit', ...TW, consent: true, noticeVersion: noticeVersion('manual') }),
    ).toMatchObject({ ok: true });
    expect(
      await review('o_queue_pp', {
        action: 'submit',
        ...PASSPORT,
        consent: true,
        noticeVersion: noticeVersion('manual'),
      }),
    ).toMatchObject({ ok: true });
    const page = await open(REVIEWER);
    expect(page.data.step).toBe('queue');
    const items = page.data.items as { requestId: string; maskedNumber: string; docLabel: string }[];
    expect(items.map((i) => i.docLabel)).toEqual(['台湾居民来往大陆通行证', '护照']);
    expect(items[0]!.maskedNumber).toBe(maskDocNumber(TW.docNumber));
    expect(html(page)).not.toContain(TW.docNumber);
    expect(html(page)).not.toContain(TW.name);

    // Approving takes the whole number as read off the original: a different one is refused, the field stays.
    tapButton(page, `#approve-${items[0]!.requestId}`);
    await waitFor(() => page.data.approving === items[0]!.requestId);
    tapButton(page, '#confirm-approve');
    await waitFor(() => page.data.numberError !== '');
    expect(page.data.numberError).toBe(ERRORS.REVIEW_NUMBER_REQUIRED);
    await type(page, '#doc-number', '87654321');
    tapButton(page, '#confirm-approve');
    await waitFor(() => page.data.numberError !== '');
    expect(page.data.numberError).toBe(ERRORS.REVIEW_NUMBER_MISMATCH);
    expect(page.data.approving).toBe(items[0]!.requestId);
    await type(page, '#doc-number', TW.docNumber);
    tapButton(page, '#confirm-approve');
    await waitFor(() => page.data.notice !== '');
    expect(page.data.notice).toContain('已通过');
    await waitFor(() => page.data.items.length === 1);
    const status = await postJson('/gateway/functions/face', { action: 'status' }, { 'X-WX-OPENID': 'o_queue_tw' });
    expect(status.body).toMatchObject({ bindings: [{ method: 'manual', docType: 'tw_permit' }] });

    const rejected = items[1]!.requestId;
    tapButton(page, `#reject-${rejected}`);
    await waitFor(() => page.data.rejecting === rejected);
    tapButton(page, '#confirm-reject');
    await waitFor(() => page.data.reasonError !== '');
    expect(page.data.reasonError).toBe(ERRORS.REVIEW_REASON_REQUIRED);
    const reason = '护照已过期，请携带有效证件到窗口办理';
    await type(page, '#reason', reason);
    tapButton(page, '#confirm-reject');
    await waitFor(() => page.data.notice.includes('已驳回'));
    await waitFor(() => page.data.items.length === 0);
    expect(html(page)).toContain('没有待审核的申请');
    expect(await review('o_queue_pp', { action: 'mine' })).toMatchObject({
      requests: [expect.objectContaining({ state: 'rejected', reason })],
    });
  });

  it('the reviewer’s own request is listed as theirs, with nothing to tap', async () => {
    expect(
      await review(REVIEWER, { action: 'submit', ...PASSPORT, consent: true, noticeVersion: noticeVersion('manual') }),
    ).toMatchObject({ ok: true });
    const page = await open(REVIEWER);
    const own = (page.data.items as { requestId: string; own: boolean }[]).find((i) => i.own);
    expect(own).toBeDefined();
    expect(page.querySelector(`#own-${own!.requestId}`)).toBeTruthy();
    expect(page.querySelector(`#approve-${own!.requestId}`)).toBeFalsy();
    expect(page.querySelector(`#reject-${own!.requestId}`)).toBeFalsy();
  });

  it('someone who is not a reviewer is told who reviews, and sees no queue', async () => {
    const page = await open('o_queue_nobody');
    expect(page.data.step).toBe('forbidden');
    expect(html(page)).toContain('REVIEWER_OPENIDS');
    expect(page.data.items).toEqual([]);
  });
});
