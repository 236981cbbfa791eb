/**
 * The roster-import page against a real sandbox: the real `roster` function behind the gateway,
 * the sandbox's storage and database. Only what the device does is doubled (the chat file picker,
 * the upload and download transfers — real HTTP to the sandbox — and the document viewer).
 *
 * Slices are one batch (ROSTER_SLICE_SECONDS=0), so a file over 1000 rows takes several `run`
 * calls: the page has to drive the job.
 */
import { config } from '../../miniprogram/config';
import { ERRORS } from '../../miniprogram/shared/errors';
import { type FileBridge, installFileBridge } from '../helpers/bridge-files';
import { installBridge, postJson, type SandboxProcess, startSandbox } from '../helpers/bridge';
import { type Rendered, renderPage, tapButton, waitFor } from '../helpers/simulate';
import { cleanRoster, csv, person, rowErrors } from '../fixtures/roster/generate';

jest.setTimeout(120_000);

const ADMIN = 'o_roster_page_admin';
const GUEST = 'o_roster_page_guest';
const FULL_ID = /\d{17}[\dX]/;

let sandbox: SandboxProcess;
let files: FileBridge;
/** Actions of every roster call the page made, in order. */
let actions: string[];

type Request = (option: { url: string; data?: unknown }) => unknown;
const device = wx as unknown as Record<string, unknown>;

beforeAll(async () => {
  sandbox = await startSandbox({ functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN, ROSTER_SLICE_SECONDS: '0' } });
  config.sandboxUrl = sandbox.url;
});

afterAll(async () => {
  const { persistedText } = await sandbox.stop();
  // Nothing the page sent survives in plain text: uploads deleted, rows encrypted.
  for (let i = 0; i < 20; i += 1) {
    expect(persistedText).not.toContain(person(i).idCard);
    expect(persistedText).not.toContain(person(i).name);
  }
});

beforeEach(() => {
  config.mode = 'sandbox';
  config.sandboxOpenid = ADMIN;
  installBridge();
  files = installFileBridge();
  actions = [];
  const request = device.request as Request;
  device.request = (option: Parameters<Request>[0]) => {
    if (option.url.endsWith('/gateway/functions/roster'))
      actions.push(String((option.data as { action?: string }).action));
    return request(option);
  };
});

afterEach(() => files.cleanup());

/** The roster collection as the sandbox's database holds it (through its TCB protocol). */
async function rosterDocs(): Promise<Array<Record<string, unknown>>> {
  const res = await postJson('/admin', {
    action: 'database.getDocument',
    collectionName: 'roster',
    queryType: 'WHERE',
    query: '{}',
    limit: 1000,
  });
  const list = (res.body.data as { list: string[] }).list;
  return list.map((doc) => JSON.parse(doc) as Record<string, unknown>);
}

async function rosterCount(): Promise<number> {
  const res = await postJson('/admin', { action: 'database.calculateDocument', collectionName: 'roster', query: '{}' });
  return (res.body.data as { total: number }).total;
}

/** Whether a file is still in the sandbox's storage. */
async function stored(fileID: string): Promise<boolean> {
  const res = await postJson('/sandbox/client/storage/download', { fileID }, { 'X-WX-OPENID': ADMIN });
  if (res.status !== 200 && res.status !== 404) throw new Error(`storage answered ${res.status}`);
  return res.status === 200;
}

function sheetOf(content: Buffer): unknown[][] {
  const { parse } = require('node-xlsx') as typeof import('node-xlsx');
  return parse(content)[0]!.data;
}

/** Waits for the page to reach `step`; on timeout, says where it stopped. */
async function reach(page: Rendered, step: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(() => page.data.step === step, timeoutMs).catch(() => {
    throw new Error(`expected step ${step}, page data: ${JSON.stringify(page.data)}`);
  });
}

async function openAsAdmin(): Promise<Rendered> {
  const page = renderPage('admin/pages/roster-import');
  await reach(page, 'choose');
  return page;
}

/** Picks `content` as `name` in the chat file picker; the page uploads it and runs the dry run. */
function chooseFile(page: Rendered, name: string, content: Buffer) {
  const file = files.writeFile(name, content);
  files.choose(file);
  tapButton(page, '#choose');
  return file;
}

const html = (page: Rendered): string => page.dom!.innerHTML;

/** Taps a van-cell (its inner cell view, as a finger would). */
function tapCell(page: Rendered, selector: string): void {
  const inner = page.querySelector(selector)?.querySelector('.van-cell');
  if (!inner) throw new Error(`tapCell: no van-cell at ${selector}`);
  inner.dispatchEvent('tap');
}

describe('roster-import page, admin', () => {
  it('template → choose → upload with progress → dry-run preview with row errors → confirm → rows in the database', async () => {
    const page = await openAsAdmin();
    expect(actions).toEqual(['access']);

    // The template: fetched from the function, downloaded and opened in the document viewer.
    tapButton(page, '#template');
    await waitFor(() => files.opened.length === 1, 15_000);
    expect(files.downloads[0]).toMatchObject({
      statusCode: 200,
      url: expect.stringContaining('/files/roster-templates/'),
    });
    expect(files.opened[0]).toMatchObject({ fileType: 'xlsx', showMenu: true });
    expect(sheetOf(files.opened[0]!.content)[0]).toEqual(expect.arrayContaining(['姓名', '身份证号']));
    expect(page.data.templateLoading).toBe(false);

    // Choose a file; hold its upload halfway to see the progress bar.
    const upload = files.holdUploads();
    const file = chooseFile(page, '职工名单 2024.xlsx', rowErrors(10));
    await waitFor(() => page.data.uploadPercent > 0);
    expect(page.data.step).toBe('working');
    expect(page.data.uploadPercent).toBeLessThan(100);
    expect(html(page)).toContain('正在上传文件');
    expect(page.querySelector('#upload-progress')).toBeTruthy();
    upload.release();

    await reach(page, 'preview');
    expect(files.chooseCalls).toEqual([
      expect.objectContaining({ count: 1, type: 'file', extension: ['xlsx', 'xls', 'csv'] }),
    ]);
    expect(files.uploads).toHaveLength(1);
    expect(files.uploads[0]).toMatchObject({
      via: 'uploadFile',
      field: 'file',
      filePath: file.path,
      statusCode: 200,
      cloudPath: expect.stringMatching(/^roster-uploads\/\d{13}-[0-9a-f]{16}-2024\.xlsx$/),
    });
    expect(files.progress[files.progress.length - 1]).toBe(100);
    expect(page.data.uploadPercent).toBe(100);

    // The dry run: counts, and the bad rows with their spreadsheet row numbers and columns.
    expect(page.data.preview).toMatchObject({
      total: 16,
      inserted: 10,
      updated: 0,
      unchanged: 0,
      failed: 6,
      writable: 10,
      hasReport: true,
    });
    const errors = page.data.preview.errors as Array<{ row: number; column: string; message: string }>;
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ row: 12, column: '身份证号', message: ERRORS.ID_15_DIGIT }),
        expect.objectContaining({ row: 13, column: '身份证号', message: '与第 2 行身份证号重复' }),
        expect.objectContaining({ row: 14, column: '手机号', message: ERRORS.PHONE_INVALID }),
        expect.objectContaining({ row: 15, column: '姓名', message: ERRORS.ROW_REQUIRED }),
        expect.objectContaining({ row: 17, column: '身份证号', message: ERRORS.ID_CHECKSUM }),
      ]),
    );
    expect(html(page)).toContain('第 12 行 · 身份证号');
    expect(html(page)).toContain(ERRORS.ID_15_DIGIT);
    expect(html(page)).toContain('确认导入（写入 10 行，跳过有误的 6 行）');
    // Nothing written yet; the function deleted the upload.
    expect(await rosterCount()).toBe(0);
    expect(await stored(files.uploads[0]!.fileID!)).toBe(false);
    expect(actions).toEqual(['access', 'template', 'reserveUpload', 'import', 'run']);

    // Confirm: the same local file goes up again and is imported for real.
    tapButton(page, '#confirm');
    await reach(page, 'done');
    expect(files.uploads).toHaveLength(2);
    expect(files.uploads[1]).toMatchObject({ filePath: file.path, statusCode: 200 });
    expect(files.uploads[1]!.cloudPath).not.toBe(files.uploads[0]!.cloudPath);
    expect(actions.slice(5)).toEqual(['reserveUpload', 'import', 'run']);
    expect(page.data.result).toMatchObject({ total: 16, inserted: 10, updated: 0, unchanged: 0, failed: 6 });
    expect(html(page)).toContain('导入完成');
    expect(page.querySelector('#report')).toBeTruthy();

    const docs = await rosterDocs();
    expect(docs).toHaveLength(10);
    for (const doc of docs) {
      // Encrypted, and nothing identifying beside it, not even masked values.
      expect(String(doc.piiEnc)).toMatch(/^v1\./);
      expect(doc).not.toHaveProperty('maskedIdCard');
      expect(doc).not.toHaveProperty('maskedName');
    }
    expect(await stored(files.uploads[1]!.fileID!)).toBe(false);
    // The page never held a full ID number.
    expect(html(page)).not.toMatch(FULL_ID);
    expect(JSON.stringify(page.data)).not.toMatch(FULL_ID);
  });

  it('opens the error report in the document viewer; offers no import when nothing would be written', async () => {
    // Rows 2–4 people 40–42; row 5 a 15-digit ID; row 6 a bad phone.
    const rows = [
      ['姓名', '身份证号', '手机号'],
      ...[40, 41, 42].map((i) => [person(i).name, person(i).idCard, person(i).phone]),
      [person(43).name, '110105491231002', ''],
      [person(44).name, person(44).idCard, '12345'],
    ];
    const page = await openAsAdmin();
    const file = chooseFile(page, 'errors.csv', csv(rows));
    await reach(page, 'preview');
    expect(page.data.preview).toMatchObject({ total: 5, inserted: 3, failed: 2, hasReport: true });
    tapButton(page, '#confirm');
    await reach(page, 'done');
    expect(page.data.result).toMatchObject({ total: 5, inserted: 3, failed: 2, hasReport: true });

    tapButton(page, '#report');
    await waitFor(() => files.opened.length === 1, 15_000);
    expect(actions.slice(-1)).toEqual(['report']);
    expect(files.downloads[0]).toMatchObject({
      statusCode: 200,
      url: expect.stringContaining('/files/roster-reports/'),
    });
    expect(files.opened[0]).toMatchObject({ fileType: 'xlsx', showMenu: true });
    const report = sheetOf(files.opened[0]!.content);
    expect(report[0]).toEqual(['行号', '列', '问题']);
    expect(report.slice(1)).toEqual([
      [5, '身份证号', ERRORS.ID_15_DIGIT],
      [6, '手机号', ERRORS.PHONE_INVALID],
    ]);
    expect(JSON.stringify(report)).not.toMatch(FULL_ID);
    expect(page.data.reportLoading).toBe(false);
    expect(page.data.error).toBe('');

    // The same file again: nothing left to write, so no confirm; its report is still there.
    files.choose(file);
    tapButton(page, '#next-file');
    await reach(page, 'preview');
    expect(page.data.preview).toMatchObject({ inserted: 0, unchanged: 3, failed: 2, writable: 0 });
    expect(page.querySelector('#confirm')).toBeFalsy();
    expect(page.querySelector('#nothing-to-import')).toBeTruthy();
    tapButton(page, '#preview-report');
    await waitFor(() => files.opened.length === 2, 15_000);
    expect(sheetOf(files.opened[1]!.content)).toHaveLength(3);
  });

  it('shows a renamed ID as a conflict, offers merge or replace in plain words, and imports the conflict only when accepted', async () => {
    // People 9060 and 9061: the other tests of this file use people below 2100, whose names must stay.
    const p0 = person(9060);
    const p1 = person(9061);
    const page = await openAsAdmin();
    expect(html(page)).toContain('补充更新（推荐）');
    expect(html(page)).toContain('留空的格子会清空系统里原来的信息');
    expect(page.data.mode).toBe('merge');
    // First the two people with every column.
    chooseFile(
      page,
      'base.csv',
      csv([
        ['姓名', '身份证号', '部门'],
        [p0.name, p0.idCard, p0.department],
        [p1.name, p1.idCard, p1.department],
      ]),
    );
    await reach(page, 'preview');
    tapButton(page, '#confirm');
    await reach(page, 'done');

    const rows = [
      ['姓名', '身份证号', '部门'],
      ['新名字', p0.idCard, p0.department],
      [p1.name, p1.idCard, ''],
    ];
    files.choose(files.writeFile('renamed.csv', csv(rows)));
    tapButton(page, '#next-file');
    await reach(page, 'preview');
    // Merge: person 1's empty department keeps the stored one (unchanged); person 0 is a conflict.
    expect(page.data.preview).toMatchObject({ total: 2, conflicts: 1, unchanged: 1, updated: 0, writable: 0 });
    expect(page.data.preview.conflictRows).toEqual([expect.objectContaining({ row: 2 })]);
    expect(html(page)).toContain('姓名冲突的行');
    expect(html(page)).toContain('第 2 行');
    expect(html(page)).not.toContain('新名字');
    expect(page.querySelector('#confirm')).toBeFalsy();

    // Replace mode: checked again; the empty department now clears person 1's (an update).
    tapCell(page, '#mode-replace');
    await waitFor(
      () => page.data.mode === 'replace' && page.data.step === 'preview' && page.data.preview?.updated === 1,
    );
    expect(page.data.preview).toMatchObject({ conflicts: 1, updated: 1, writable: 1 });
    expect(html(page)).toContain('不写入冲突的 1 行');
    tapCell(page, '#mode-merge');
    await waitFor(() => page.data.mode === 'merge' && page.data.step === 'preview' && page.data.preview?.updated === 0);

    // Accept the conflict: the row is written under the file's name.
    tapCell(page, '#accept-conflicts');
    await waitFor(() => page.data.acceptConflicts === true);
    expect(html(page)).toContain('✔ 按文件中的姓名更新这 1 行');
    tapButton(page, '#confirm');
    await reach(page, 'done');
    expect(page.data.result).toMatchObject({ conflicts: 0, updated: 1, unchanged: 1 });
    expect(actions.filter((a) => a === 'import')).toHaveLength(6);
  });

  it('drives a job over several slices and reports progress', async () => {
    const page = await openAsAdmin();
    const seen: number[] = [];
    const instance = page.instance as unknown as { setData(data: Record<string, unknown>): void };
    const setData = instance.setData.bind(instance);
    instance.setData = (data) => {
      if (typeof data.processed === 'number') seen.push(data.processed);
      setData(data);
    };
    chooseFile(page, 'big.xlsx', cleanRoster(2100));
    await reach(page, 'preview', 60_000);
    // 1000 rows per slice: the import's own slice, then `run` until done.
    expect(actions).toEqual(['access', 'reserveUpload', 'import', 'run', 'run']);
    expect(seen).toEqual(expect.arrayContaining([2000, 2100]));
    expect(page.data.preview).toMatchObject({ total: 2100, failed: 0, hasReport: false });
    const { inserted, updated, unchanged } = page.data.preview as Record<string, number>;
    expect(inserted! + updated! + unchanged!).toBe(2100);
    expect(page.querySelector('#preview-report')).toBeFalsy();
  });

  it('shows the server’s message for an unreadable file or one without a header, then accepts another', async () => {
    const page = await openAsAdmin();
    const before = await rosterCount();

    chooseFile(page, '名单.xlsx', Buffer.from('这不是一个表格文件'));
    await waitFor(() => page.data.error !== '', 30_000);
    expect(page.data.step).toBe('choose');
    expect(page.data.error).toBe(ERRORS.ROSTER_FILE_UNREADABLE);
    expect(html(page)).toContain(ERRORS.ROSTER_FILE_UNREADABLE);
    expect(page.data.preview).toBeNull();

    chooseFile(
      page,
      'no-header.csv',
      csv([
        ['编号', '备注'],
        ['1', '无'],
      ]),
    );
    await waitFor(() => page.data.error === ERRORS.ROSTER_NO_HEADER, 30_000);
    expect(page.data.step).toBe('choose');

    // Closing the picker changes nothing.
    files.choose('cancel');
    tapButton(page, '#choose');
    await waitFor(() => files.chooseCalls.length === 3);
    expect(page.data.step).toBe('choose');
    expect(files.uploads).toHaveLength(2);

    chooseFile(
      page,
      'good.csv',
      csv([
        ['姓名', '身份证号'],
        [person(30).name, person(30).idCard],
      ]),
    );
    await reach(page, 'preview');
    expect(page.data.error).toBe('');
    expect(page.data.preview).toMatchObject({ total: 1, inserted: 1, failed: 0 });
    expect(await rosterCount()).toBe(before);
  });

  it('works the same in cloud mode (wx.cloud.uploadFile, wx.cloud.callFunction)', async () => {
    config.mode = 'cloud';
    const page = await openAsAdmin();
    chooseFile(page, 'roster.xls.xlsx', cleanRoster(5));
    await reach(page, 'preview');
    expect(files.uploads[0]).toMatchObject({
      via: 'cloud.uploadFile',
      statusCode: 200,
      cloudPath: expect.stringMatching(/^roster-uploads\/\d{13}-[0-9a-f]{16}-roster\.xls\.xlsx$/),
    });
    expect(page.data.preview).toMatchObject({ total: 5, failed: 0 });
    expect(page.data.uploadPercent).toBe(100);
  });

  it('goes to the refusal when the server forbids the upload', async () => {
    const page = await openAsAdmin();
    config.sandboxOpenid = GUEST; // e.g. removed from the admins meanwhile
    chooseFile(page, 'roster.xlsx', cleanRoster(3));
    await reach(page, 'denied');
    // Refused before anything is uploaded: the server names the upload's place only for an admin.
    expect(actions).toEqual(['access', 'reserveUpload']);
    expect(files.uploads).toEqual([]);
    await waitFor(() => page.data.openid === GUEST, 15_000);
  });
});

describe('roster-import page, not an admin', () => {
  it('explains why not and how to become one; offers no import control', async () => {
    config.sandboxOpenid = GUEST;
    const page = renderPage('admin/pages/roster-import');
    await reach(page, 'denied');
    await waitFor(() => page.data.openid === GUEST, 15_000);
    expect(html(page)).toContain('仅名单管理员可以导入名单');
    expect(html(page)).toContain('请管理员把你的 openid 加入名单管理员');
    expect(html(page)).toContain(GUEST);
    expect(page.querySelector('#choose')).toBeFalsy();
    expect(page.querySelector('#template')).toBeFalsy();
    expect(page.querySelector('#confirm')).toBeFalsy();
    expect(actions).toEqual(['access']);
    expect(files.chooseCalls).toHaveLength(0);
  });
});
