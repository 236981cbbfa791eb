/**
 * The review-submit page (staff verification, the person's side) against a real sandbox: the person
 * submits a document and follows it; the reviewer's decisions go through the gateway here (their
 * page is test/pages/review-queue.test.ts: one page per file, see test/helpers/simulate.ts).
 */
import { config } from '../../miniprogram/config';
import { getFaceStatus } from '../../miniprogram/services/face';
import { REVIEW_DOC_TYPES } from '../../miniprogram/shared/documents';
import { ERRORS } from '../../miniprogram/shared/errors';
import { makeIdCard } from '../../miniprogram/shared/idcard';
import { maskDocNumber } from '../../miniprogram/shared/mask';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { html, reach, settle, tickConsent, type } from '../helpers/page-actions';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';

jest.setTimeout(60_000);

const REVIEWER = 'o_review_page_reviewer';
const HK = { name: '陈嘉欣', docType: 'residence_permit', docNumber: makeIdCard('810000', '19920315', '046') } as const;
const FOREIGN = { name: 'JOHN SMITH', docType: 'passport', docNumber: 'E98765432' } as const;

let sandbox: SandboxProcess;

beforeAll(async () => {
  sandbox = await startSandbox({ functionEnv: { REVIEWER_OPENIDS: REVIEWER } });
  config.mode = 'sandbox';
  config.sandboxUrl = sandbox.url;
});
afterAll(async () => {
  const { persistedText } = await sandbox.stop();
  for (const doc of [HK, FOREIGN]) {
    expect(persistedText).not.toContain(doc.docNumber);
    expect(persistedText).not.toContain(doc.name);
  }
});
beforeEach(() => installBridge());

/** The reviewer decides the newest pending request (approving with the number read off `doc`). */
async function decide(approve: boolean, reason?: string, doc?: { docNumber: string }): Promise<void> {
  const review = (event: Record<string, unknown>) =>
    postJson('/gateway/functions/review', event, { 'X-WX-OPENID': REVIEWER }).then((r) => r.body);
  const queue = (await review({ action: 'queue' })) as { requests: { requestId: string }[] };
  const requestId = queue.requests[queue.requests.length - 1]!.requestId;
  const extra = approve ? { docNumber: doc!.docNumber } : { reason };
  expect(await review({ action: 'decide', requestId, approve, ...extra })).toMatchObject({
    ok: true,
  });
}

async function open(): Promise<Rendered> {
  const page = renderPage('verify/pages/review-submit');
  await reach(page, 'form');
  return page;
}

async function chooseDocType(page: Rendered, docType: string): Promise<void> {
  const index = (REVIEW_DOC_TYPES as readonly string[]).indexOf(docType);
  page.querySelector('#doc-type')!.dispatchEvent('change', { detail: { value: String(index) } });
  await settle();
}

async function submit(doc: { name: string; docType: string; docNumber: string }): Promise<Rendered> {
  const page = await open();
  await chooseDocType(page, doc.docType);
  await type(page, '#name', doc.name);
  await type(page, '#doc-number', doc.docNumber);
  await tickConsent(page);
  tapButton(page, '#submit');
  await waitFor(() => page.data.pending === true);
  return page;
}

describe('review-submit page', () => {
  it('a Hong Kong resident submits a residence permit, waits, and is verified once approved', async () => {
    config.sandboxOpenid = 'o_review_hk';
    const page = await submit(HK);
    expect(page.data.requests).toEqual([
      expect.objectContaining({
        docLabel: '港澳台居民居住证',
        maskedName: '陈**',
        maskedNumber: maskDocNumber(HK.docNumber),
        stateLabel: '待审核',
      }),
    ]);
    expect(html(page)).toContain('正在等待工作人员审核');
    expect(page.querySelector('#submit')).toBeUndefined();
    expect(JSON.stringify(page.data)).not.toContain(HK.docNumber);
    expect(page.data.name).toBe('');

    await decide(true, undefined, HK);
    expect(await getFaceStatus()).toMatchObject({
      ok: true,
      bindings: [{ method: 'manual', docType: 'residence_permit', maskedIdCard: maskDocNumber(HK.docNumber) }],
    });
    const after = await open();
    expect(after.data.requests[0]).toMatchObject({ stateLabel: '已通过' });
  });

  it('a rejected request shows its reason, and the form is offered again', async () => {
    config.sandboxOpenid = 'o_review_foreign';
    await submit(FOREIGN);
    const reason = '护照照片页不清晰，请到窗口出示原件';
    await decide(false, reason);
    const page = await open();
    expect(page.data.requests[0]).toMatchObject({ stateLabel: '未通过', reason });
    expect(html(page)).toContain(`未通过原因：${reason}`);
    expect(page.data.pending).toBe(false);
    expect(page.querySelector('#submit')).toBeTruthy();
  });

  it('checks the document on the device with the type’s own message; nothing is sent', async () => {
    config.sandboxOpenid = 'o_review_typo';
    const page = await open();
    const request = jest.fn();
    (wx as unknown as Record<string, unknown>).request = request;
    tapButton(page, '#submit');
    await waitFor(() => page.data.docTypeError !== '');
    expect(page.data.docTypeError).toBe(ERRORS.DOC_TYPE_INVALID);
    expect(page.data.consentError).toBe(ERRORS.CONSENT_REQUIRED);
    await chooseDocType(page, 'hk_mo_permit');
    await type(page, '#doc-number', 'X1234567');
    expect(page.data.numberError).toBe(ERRORS.DOC_HK_MO_FORMAT);
    // Another type judges the same number by its own rule.
    await chooseDocType(page, 'passport');
    expect(page.data.numberError).toBe('');
    tapButton(page, '#submit');
    await waitFor(() => page.data.nameError !== '');
    expect(request).not.toHaveBeenCalled();
    expect(page.data.requests).toEqual([]);
  });
});
