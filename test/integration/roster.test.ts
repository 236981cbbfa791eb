/**
 * Roster import end to end: files uploaded to sandbox storage as the page and the CLI do, imported
 * by the real `roster` function through the real SDK, checked in the sandbox database.
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import { spawn } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { Sandbox } from '../../sandbox';
import {
  freshSandbox,
  persistedText,
  piiKeysOf,
  post,
  reserveUpload,
  rosterFieldsOf,
  sdkFor,
  until,
  uploadFile,
  type FreshSandboxOptions,
} from '../helpers/sandbox';
import { blindIndex, decryptField, encryptField } from '../../server/core/pii';
import { rosterAad } from '../../server/lib/roster-record';
import { ERRORS } from '../../miniprogram/shared/errors';
import { AdminDirectory } from '../../server/lib/admins';
import { typedDb } from '../../server/lib/cloud-db';
import type { CloudStorage } from '../../server/lib/storage';
import { Throttle } from '../../server/lib/throttle';
import { RosterService } from '../../server/functions/roster/service';
import {
  cellTraps,
  cleanRoster,
  csv,
  csvRows,
  HEADER,
  junk,
  person,
  personRow,
  rowErrors,
  xlsRoster,
  type Person,
} from '../fixtures/roster/generate';

jest.setTimeout(180_000);

const ADMIN = 'o_roster_admin';
let sandbox: Sandbox;
let uploads = 0;

beforeAll(async () => {
  sandbox = await ownSandbox();
});

afterAll(async () => {
  // Every upload (plain PII, compressed so a byte scan cannot see it) is gone once its import ended.
  expect(sandbox.storage.list().filter((f) => f.startsWith('roster-uploads/'))).toEqual([]);
  const text = persistedText(sandbox);
  await sandbox.stop();
  // No plaintext ID number or name of any imported person anywhere in the sandbox's data.
  for (let i = 0; i < 60; i += 1) {
    expect(text).not.toContain(person(i).idCard);
    expect(text).not.toContain(person(i).idCard.slice(0, 14));
  }
});

/** A `roster` call through the gateway as `openid`: the whole HTTP answer (status and body). */
const gateway = (event: Record<string, unknown>, openid = ADMIN, target = sandbox) =>
  post(target, '/gateway/functions/roster', event, { 'X-WX-OPENID': openid });

const roster = (event: Record<string, unknown>, openid = ADMIN, target = sandbox) =>
  gateway(event, openid, target).then((r) => r.body);

/** A sandbox of the test's own (its quota, clock, timeouts or faults change), with the same admin. */
const ownSandbox = (options: FreshSandboxOptions = {}) =>
  freshSandbox({ ...options, functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN, ...options.functionEnv } });

/** Puts `content` at `cloudPath` in `target`'s storage, as the page's upload does; answers its fileID. */
const putUpload = (target: Sandbox, cloudPath: string, content: Buffer): Promise<string> =>
  uploadFile(target, ADMIN, cloudPath, content);

async function upload(content: Buffer, name: string): Promise<string> {
  uploads += 1;
  return putUpload(sandbox, `roster-uploads/${uploads}-${name}`, content);
}

/** Import and drive the job to the end, as the page and the CLI do. */
async function importFile(content: Buffer, name: string, extra: Record<string, unknown> = {}) {
  const fileID = await upload(content, name);
  const started = await roster({ action: 'import', fileID, ...extra });
  if (!started.ok) return { started, fileID };
  let status = await roster({ action: 'status', jobId: started.jobId });
  for (let i = 0; i < 50 && status.state === 'running'; i += 1)
    status = await roster({ action: 'run', jobId: started.jobId });
  return { started, status, fileID };
}

/** The people of `cleanRoster(n)`, as `person(i)` makes them. */
const cleanRosterPeople = (n: number) => Array.from({ length: n }, (_, i) => person(i));

const rosterIds = () => new Set(sandbox.db.dump('roster').map((d) => d._id));

describe('roster import', () => {
  it('imports a clean file, encrypted, deletes the upload, and writes nothing on re-import', async () => {
    const file = cleanRoster(50);
    const { status, fileID } = await importFile(file, 'clean.xlsx');
    expect(status).toMatchObject({
      ok: true,
      state: 'done',
      total: 50,
      processed: 50,
      inserted: 50,
      updated: 0,
      unchanged: 0,
      failed: 0,
      errors: [],
    });
    expect(rosterIds().size).toBe(50);
    const doc = sandbox.db.dump('roster')[0]!;
    // Nothing in the document identifies the person, not even masked values (a client may be able to
    // read the collection where the rules were never applied): every field is in piiEnc.
    expect(Object.keys(doc).sort()).toEqual(['_id', 'jobId', 'piiEnc', 'rowHash', 'updatedAt']);
    expect(String(doc.piiEnc)).toMatch(/^v1\./);
    const stored = rosterFieldsOf(sandbox, doc);
    expect(stored).toMatchObject({ name: expect.any(String), idCard: expect.stringMatching(/^\d{17}[\dX]$/) });
    expect(cleanRosterPeople(50).map((p) => p.idCard)).toContain(stored.idCard);
    expect(sandbox.storage.pathOf(fileID) && sandbox.storage.exists(sandbox.storage.pathOf(fileID)!)).toBe(false);

    const writesBefore = sandbox.tcb.stats.writes;
    const auditBefore = sandbox.db.dump('audit_log').length;
    const again = await importFile(file, 'clean-again.xlsx');
    expect(again.status).toMatchObject({ state: 'done', inserted: 0, updated: 0, unchanged: 50 });
    // Job bookkeeping only (job, lock, lock release, final state) besides one audit entry per admin call: no roster write.
    const audited = sandbox.db.dump('audit_log').length - auditBefore;
    expect(audited).toBeGreaterThanOrEqual(2);
    expect(sandbox.tcb.stats.writes - writesBefore - audited).toBeLessThanOrEqual(4);
    expect(rosterIds().size).toBe(50);
  });

  it('updates changed rows and keeps the rest', async () => {
    const rows = csvRows(50);
    rows[3]![3] = '急诊科'; // person 2's department changed
    const { status } = await importFile(csv(rows, 'utf8-bom'), 'changed.csv');
    expect(status).toMatchObject({ state: 'done', inserted: 0, updated: 1, unchanged: 49 });
    expect(rosterIds().size).toBe(50);
    expect(sandbox.db.dump('roster').filter((d) => rosterFieldsOf(sandbox, d).department === '急诊科')).toHaveLength(1);
  });

  it('reads .xls and GBK CSV', async () => {
    // People 0–4 as first imported: person 2's department goes back from 急诊科 (previous test).
    expect((await importFile(xlsRoster(5), 'old.xls')).status).toMatchObject({
      state: 'done',
      updated: 1,
      unchanged: 4,
    });
    const gbk = await importFile(csv(csvRows(3), 'gbk'), 'gbk.csv');
    expect(gbk.status).toMatchObject({ state: 'done', total: 3, unchanged: 3, failed: 0 });
  });

  it('reports every bad row with its row, column and rule, and builds an error report without full IDs', async () => {
    const { status } = await importFile(rowErrors(10), 'errors.xlsx');
    expect(status).toMatchObject({ state: 'done', total: 16, unchanged: 10 });
    const errors = status!.errors as Array<{ row: number; column: string; code: string; message: string }>;
    expect(errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ row: 12, column: '身份证号', code: 'ID_15_DIGIT' }),
        expect.objectContaining({ row: 13, column: '身份证号', code: 'ROW_DUPLICATE' }),
        expect.objectContaining({ row: 14, column: '手机号', code: 'PHONE_INVALID' }),
        expect.objectContaining({ row: 15, column: '姓名', code: 'ROW_REQUIRED' }),
        expect.objectContaining({ row: 17, column: '身份证号', code: 'ID_CHECKSUM' }),
      ]),
    );
    expect(status!.failed).toBe(6);
    const report = await roster({ action: 'report', jobId: status!.jobId });
    expect(report).toMatchObject({ ok: true, tempFileURL: expect.stringContaining('/files/roster-reports/') });
    const xlsx = Buffer.from(await (await fetch(encodeURI(String(report.tempFileURL)))).arrayBuffer());
    const { parse } = require('node-xlsx') as typeof import('node-xlsx');
    const sheet = parse(xlsx)[0]!;
    expect(sheet.data[0]).toEqual(['行号', '列', '问题']);
    expect(sheet.data.length).toBe(errors.length + 1);
    expect(JSON.stringify(sheet.data)).not.toMatch(/\d{17}[\dX]/);
  });

  it('rejects numeric ID cells whatever their digits, and normalises the other traps', async () => {
    const { status } = await importFile(cellTraps().buffer, 'traps.xlsx');
    const codes = (status!.errors as Array<{ row: number; code: string }>).map((e) => `${e.row}:${e.code}`);
    expect(codes).toEqual(expect.arrayContaining(['2:ROW_ID_NUMERIC', '7:ROW_ID_NUMERIC']));
    expect(status).toMatchObject({ state: 'done', total: 6, failed: 2 });
  });

  it('refuses unreadable files with a clear error, deleting the upload', async () => {
    const files = junk();
    for (const [name, content] of Object.entries(files)) {
      const { started, fileID } = await importFile(content, `${name}.xlsx`);
      expect(started).toMatchObject({
        ok: false,
        code: expect.stringMatching(/^ROSTER_(FILE_UNREADABLE|NO_HEADER|FILE_ENCRYPTED)$/),
      });
      expect(sandbox.storage.exists(sandbox.storage.pathOf(fileID)!)).toBe(false);
    }
  });

  it('refuses a missing upload and an unknown sheet with their own codes', async () => {
    const missing = `cloud://${sandbox.env}.${sandbox.storage.bucket}/roster-uploads/never-uploaded.xlsx`;
    reserveUpload(sandbox, missing);
    expect(await roster({ action: 'import', fileID: missing })).toMatchObject({
      ok: false,
      code: 'ROSTER_FILE_NOT_FOUND',
    });
    const { started, fileID } = await importFile(cleanRoster(3), 'sheet.xlsx', { sheet: '不存在的表' });
    expect(started).toMatchObject({ ok: false, code: 'ROSTER_SHEET_NOT_FOUND' });
    expect(sandbox.storage.exists(sandbox.storage.pathOf(fileID)!)).toBe(false);
  });

  it('is admin-only and only reads its own upload area', async () => {
    const fileID = await upload(cleanRoster(2), 'x.xlsx');
    expect(await roster({ action: 'import', fileID }, 'o_not_admin')).toMatchObject({ ok: false, code: 'FORBIDDEN' });
    expect(await roster({ action: 'access' }, 'o_not_admin')).toEqual({ ok: true, admin: false });
    expect(await roster({ action: 'access' })).toEqual({ ok: true, admin: true });
    const elsewhere = fileID.replace('roster-uploads/', 'roster-reports/');
    expect(await roster({ action: 'import', fileID: elsewhere })).toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
    expect(await roster({ action: 'status', jobId: 'f'.repeat(24) })).toMatchObject({
      ok: false,
      code: 'ROSTER_JOB_NOT_FOUND',
    });
    // A refused non-admin's upload is not ours to delete; the test removes its own file.
    sandbox.storage.delete(sandbox.storage.pathOf(fileID)!);
  });

  it('dry run counts and reports without writing', async () => {
    const before = rosterIds().size;
    const { status } = await importFile(rowErrors(60), 'dry.xlsx', { dryRun: true });
    // People 50–59 are new. 1, 3 and 4 were last imported from the traps file with fewer columns:
    // merged, 1 and 4 kept their other fields (unchanged); 3's department there was 内科 (updated).
    expect(status).toMatchObject({ state: 'done', dryRun: true, inserted: 10, updated: 1, unchanged: 49 });
    expect(rosterIds().size).toBe(before);
  });

  it('serves the template, which imports nothing untouched (its example row is marked)', async () => {
    const template = await roster({ action: 'template' });
    expect(template).toMatchObject({ ok: true, fileID: expect.stringContaining('roster-templates/') });
    const content = Buffer.from(await (await fetch(encodeURI(String(template.tempFileURL)))).arrayBuffer());
    const before = rosterIds().size;
    const { started, fileID } = await importFile(content, 'template.xlsx');
    expect(started).toMatchObject({ ok: false, code: 'ROSTER_NO_DATA' });
    expect(sandbox.storage.exists(sandbox.storage.pathOf(fileID)!)).toBe(false);
    expect(rosterIds().size).toBe(before);
  });

  describe('merge, replace and conflicts', () => {
    // People 50200–50203: no other file of this suite holds them (the others stay below 3500).
    const [a, b, c, d] = [50200, 50201, 50202, 50203].map(person) as [Person, Person, Person, Person];
    const stored = (p: Person) =>
      sandbox.db
        .dump('roster')
        .map((doc) => rosterFieldsOf(sandbox, doc))
        .find((f) => f.idCard === p.idCard);

    beforeAll(async () => {
      const rows = [HEADER, ...[a, b, c, d].map((p) => personRow(p, '备注' + p.employeeNo) as string[])];
      const { status } = await importFile(csv(rows), 'base.csv');
      expect(status).toMatchObject({ state: 'done', inserted: 4, conflicts: 0, failed: 0 });
    });

    it('a file with fewer columns leaves the other fields unchanged (merge is the default)', async () => {
      const rows = [
        ['姓名', '身份证号', '手机号'],
        [a.name, a.idCard, '13912345678'],
        [b.name, b.idCard, b.phone],
      ];
      const { status } = await importFile(csv(rows), 'fewer.csv');
      expect(status).toMatchObject({
        state: 'done',
        mode: 'merge',
        inserted: 0,
        updated: 1,
        unchanged: 1,
        conflicts: 0,
      });
      expect(stored(a)).toEqual({
        name: a.name,
        idCard: a.idCard,
        phone: '13912345678',
        department: a.department,
        employeeNo: a.employeeNo,
        note: '备注' + a.employeeNo,
      });
      expect(stored(b)).toMatchObject({ department: b.department, employeeNo: b.employeeNo });
    });

    it('an empty cell keeps the stored value when merging and clears it only in replace mode', async () => {
      const rows = [
        ['姓名', '身份证号', '部门', '工号'],
        [c.name, c.idCard, '', c.employeeNo],
      ];
      const merged = await importFile(csv(rows), 'empty-merge.csv');
      expect(merged.status).toMatchObject({ state: 'done', unchanged: 1, updated: 0 });
      expect(stored(c)).toMatchObject({ department: c.department, note: '备注' + c.employeeNo });
      const replaced = await importFile(csv(rows), 'empty-replace.csv', { mode: 'replace' });
      expect(replaced.status).toMatchObject({ state: 'done', mode: 'replace', updated: 1 });
      // Cleared where the file has the column and the cell is empty; 备注 (not in the file) kept.
      expect(stored(c)).toEqual({
        name: c.name,
        idCard: c.idCard,
        phone: c.phone,
        employeeNo: c.employeeNo,
        note: '备注' + c.employeeNo,
      });
    });

    it('an ID stored under another name is a conflict, not applied unless the admin accepts conflicts', async () => {
      const rows = [
        ['姓名', '身份证号', '部门'],
        ['改名字', d.idCard, '新部门'],
        [a.name, a.idCard, a.department],
      ];
      const { status } = await importFile(csv(rows), 'renamed.csv');
      expect(status).toMatchObject({ state: 'done', conflicts: 1, failed: 0, inserted: 0, unchanged: 1 });
      expect(status!.errors).toEqual([expect.objectContaining({ row: 2, column: '姓名', code: 'ROW_CONFLICT' })]);
      expect(JSON.stringify(status)).not.toContain('改名字');
      expect(stored(d)).toMatchObject({ name: d.name, department: d.department });
      expect(status!.reportFileID).toEqual(expect.stringContaining('roster-reports/'));

      const accepted = await importFile(csv(rows), 'renamed-accepted.csv', { acceptConflicts: true });
      expect(accepted.status).toMatchObject({ state: 'done', acceptConflicts: true, conflicts: 0, updated: 1 });
      expect(stored(d)).toMatchObject({ name: '改名字', department: '新部门', employeeNo: d.employeeNo });
    });
  });

  describe('stored people the writer cannot take at face value', () => {
    // People 50210–50211: no other file of this suite holds them.
    const [e, f] = [50210, 50211].map(person) as [Person, Person];
    const keys = () => piiKeysOf(sandbox);
    const idOf = (p: Person) => blindIndex(keys(), 'idCard', p.idCard);
    const doc = (p: Person) => sandbox.db.dump('roster').find((d) => d._id === idOf(p));

    it('a stored person that cannot be decrypted is reported, logged without PII, and never overwritten', async () => {
      const base = await importFile(csv([HEADER, personRow(e) as string[]]), 'unreadable-base.csv');
      expect(base.status).toMatchObject({ state: 'done', inserted: 1 });
      // The document now holds a ciphertext bound to another document (as after a key mix-up).
      const tampered = {
        ...doc(e),
        piiEnc: encryptField(keys(), JSON.stringify({ name: e.name, idCard: e.idCard }), rosterAad('another')),
      };
      sandbox.db.remove('roster', { _id: idOf(e) }, false);
      sandbox.db.insert('roster', [tampered]);
      const rows = [
        ['姓名', '身份证号', '部门'],
        [e.name, e.idCard, '新部门'],
      ];
      for (const extra of [{}, { acceptConflicts: true }, { mode: 'replace' }]) {
        const { status } = await importFile(csv(rows), 'unreadable.csv', extra);
        expect(status).toMatchObject({ state: 'done', inserted: 0, updated: 0, conflicts: 1, failed: 0 });
        expect(status!.errors).toEqual([expect.objectContaining({ row: 2, code: 'ROW_STORED_UNREADABLE' })]);
        expect(doc(e)).toEqual(tampered);
      }
      const log = fs.readFileSync(sandbox.logFile, 'utf8');
      expect(log).toMatch(/a stored roster person cannot be decrypted/);
      expect(log).not.toContain(e.idCard);
      expect(log).not.toContain(e.name);
    });

    it('a first-version document keeps its plain-text fields: a merge carries them into the ciphertext', async () => {
      const _id = idOf(f);
      sandbox.db.insert('roster', [
        {
          _id,
          rowHash: 'first-version',
          piiEnc: encryptField(
            keys(),
            JSON.stringify({ name: f.name, idCard: f.idCard, phone: f.phone }),
            rosterAad(_id),
          ),
          department: '旧部门',
          employeeNo: 'E-OLD-1',
          note: '旧备注',
          startDate: '2020-01-02',
          jobId: 'first-version',
        },
      ]);
      const rows = [
        ['姓名', '身份证号', '手机号'],
        [f.name, f.idCard, '13912345679'],
      ];
      const { status } = await importFile(csv(rows), 'legacy.csv');
      expect(status).toMatchObject({ state: 'done', updated: 1, conflicts: 0, failed: 0 });
      const stored = doc(f)!;
      expect(rosterFieldsOf(sandbox, stored as { _id: string; piiEnc?: unknown })).toEqual({
        name: f.name,
        idCard: f.idCard,
        phone: '13912345679',
        department: '旧部门',
        employeeNo: 'E-OLD-1',
        note: '旧备注',
        startDate: '2020-01-02',
      });
      // Nothing is left in plain text beside the ciphertext.
      for (const field of ['department', 'employeeNo', 'note', 'startDate']) expect(stored).not.toHaveProperty(field);
    });
  });

  it('marks a face binding as in the roster', async () => {
    const p = person(7);
    const started = await post(
      sandbox,
      '/gateway/functions/face',
      { action: 'start', name: p.name, idCardNumber: p.idCard, consent: true, noticeVersion: noticeVersion('face') },
      { 'X-WX-OPENID': 'o_member' },
    );
    await post(sandbox, '/sandbox/face/complete', {
      openid: 'o_member',
      verifyId: started.body.verifyId,
      outcome: 'pass',
    });
    const confirmed = await post(
      sandbox,
      '/gateway/functions/face',
      { action: 'confirm', verifyId: started.body.verifyId },
      { 'X-WX-OPENID': 'o_member' },
    );
    expect(confirmed.body).toMatchObject({ ok: true, binding: { inRoster: true } });
  });
});

describe('CLI (npm run roster)', () => {
  /** The CLI as `npm run roster` starts it: from the project root, the user's directory in INIT_CWD. */
  const cli = (cwd: string | undefined, ...args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(
        process.execPath,
        ['scripts/run.js', 'scripts/roster.ts', ...args, '--sandbox', sandbox.url, '--as', ADMIN],
        { cwd: path.resolve(__dirname, '../..'), env: { ...process.env, INIT_CWD: cwd ?? '' } },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      child.on('exit', (code) => resolve({ code, stdout, stderr }));
    });
  let dir: string;
  beforeEach(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roster-cli-'))));
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('--help exits 0 and lists both commands and the import options', async () => {
    const res = await cli(undefined, '--help');
    expect(res.code).toBe(0);
    for (const word of ['import', 'template', '--replace', '--accept-conflicts', '--dry-run']) {
      expect(res.stdout).toContain(word);
    }
  });

  it('reads a path relative to where it was typed, prints the jobId, saves the report beside the file, exits 1 on failed rows', async () => {
    fs.writeFileSync(path.join(dir, 'people.xlsx'), rowErrors(60));
    const res = await cli(dir, 'import', 'people.xlsx', '--json', '--dry-run');
    expect(res.code).toBe(1);
    const out = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ jobId: expect.stringMatching(/^[0-9a-f]{24}$/), total: 66, failed: 6, dryRun: true });
    expect((out.inserted as number) + (out.updated as number) + (out.unchanged as number)).toBe(60);
    expect((out.errors as unknown[]).length).toBe(8); // 6 rows, two of them with two problems
    expect(out.errors).toContainEqual(expect.objectContaining({ row: 62, column: '身份证号', code: 'ID_15_DIGIT' }));
    const report = path.join(dir, 'people.errors.xlsx');
    expect(out.report).toBe(report);
    const { parse } = require('node-xlsx') as typeof import('node-xlsx');
    expect(parse(fs.readFileSync(report))[0]!.data[0]).toEqual(['行号', '列', '问题']);

    const text = await cli(dir, 'import', 'people.xlsx', '--dry-run');
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('jobId: ');
    expect(text.stdout).toContain('错误报告已保存');
  });

  it('exits 0 when every row imported, 2 when the file cannot be read', async () => {
    fs.writeFileSync(path.join(dir, 'clean.csv'), csv(csvRows(5)));
    expect((await cli(dir, 'import', 'clean.csv', '--json')).code).toBe(0);
    fs.writeFileSync(path.join(dir, 'notes.xlsx'), junk().pdf);
    const refused = await cli(dir, 'import', 'notes.xlsx', '--json');
    expect(refused.code).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { code: 'ROSTER_FILE_UNREADABLE' } });
    fs.writeFileSync(path.join(dir, 'header-only.csv'), csv([HEADER]));
    expect(JSON.parse((await cli(dir, 'import', 'header-only.csv', '--json')).stdout)).toMatchObject({
      error: { code: 'ROSTER_NO_DATA' },
    });
  });

  it('--accept-conflicts and --replace map to the job', async () => {
    const p = person(50300);
    fs.writeFileSync(path.join(dir, 'base.csv'), csv([HEADER, personRow(p) as string[]]));
    expect((await cli(dir, 'import', 'base.csv')).code).toBe(0);
    fs.writeFileSync(
      path.join(dir, 'renamed.csv'),
      csv([
        ['姓名', '身份证号', '部门'],
        ['另一个名字', p.idCard, ''],
      ]),
    );
    const conflict = await cli(dir, 'import', 'renamed.csv', '--json');
    expect(conflict.code).toBe(1);
    expect(JSON.parse(conflict.stdout)).toMatchObject({ conflicts: 1, updated: 0, mode: 'merge' });
    const accepted = await cli(dir, 'import', 'renamed.csv', '--json', '--accept-conflicts', '--replace');
    expect(accepted.code).toBe(0);
    expect(JSON.parse(accepted.stdout)).toMatchObject({ conflicts: 0, updated: 1, mode: 'replace' });
    // By its key: an earlier test leaves a deliberately undecryptable person in the collection.
    const doc = sandbox.db.dump('roster').find((d) => d._id === blindIndex(piiKeysOf(sandbox), 'idCard', p.idCard));
    const stored = doc && rosterFieldsOf(sandbox, doc);
    // Replace: the empty 部门 cleared the department; 工号 (not in the file) kept.
    expect(stored).toMatchObject({ name: '另一个名字', employeeNo: p.employeeNo });
    expect(stored).not.toHaveProperty('department');
  });
});

describe('resumable, sliced and concurrent imports', () => {
  it('continues where a slice stopped, without duplicates or gaps', async () => {
    const small = await ownSandbox({ functionEnv: { ROSTER_SLICE_SECONDS: '0' } });
    try {
      const fileID = await putUpload(small, 'roster-uploads/sliced.xlsx', cleanRoster(3500));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, small);
      const started = await call({ action: 'import', fileID });
      let status = await call({ action: 'status', jobId: started.jobId });
      // A zero budget: every invocation does one batch of 1000 and returns.
      expect(status).toMatchObject({ state: 'running', processed: 1000 });
      const seen: number[] = [status.processed as number];
      while (status.state === 'running') {
        status = await call({ action: 'run', jobId: started.jobId });
        seen.push(status.processed as number);
      }
      expect(seen).toEqual([1000, 2000, 3000, 3500]);
      expect(status).toMatchObject({ state: 'done', inserted: 3500, unchanged: 0 });
      expect(small.db.dump('roster')).toHaveLength(3500);

      // The first slice cut the file into encrypted chunks and deleted the upload; nothing is left now.
      expect(
        small.storage.list().filter((f) => f.startsWith('roster-chunks/') || f.startsWith('roster-uploads/')),
      ).toEqual([]);

      // A job whose chunk is damaged (or gone) between two slices fails cleanly instead of hanging.
      const second = await putUpload(small, 'roster-uploads/damaged.xlsx', cleanRoster(12500));
      const job2 = await call({ action: 'import', fileID: second });
      expect(await call({ action: 'status', jobId: job2.jobId })).toMatchObject({ state: 'running', processed: 1000 });
      expect(small.storage.exists('roster-uploads/damaged.xlsx')).toBe(false);
      const chunks = small.storage.list().filter((f) => f.startsWith('roster-chunks/'));
      expect(chunks.map((f) => f.replace(/^roster-chunks\/[0-9a-f]{24}-[0-9a-f]{24}\//, ''))).toEqual([
        '0.bin',
        '1.bin',
      ]);
      for (const chunk of chunks) expect(small.storage.read(chunk)?.toString('utf8')).not.toContain(person(0).idCard);
      small.storage.write(chunks[0] as string, junk().truncatedZip);
      expect(await call({ action: 'run', jobId: job2.jobId })).toMatchObject({
        state: 'failed',
        failure: { code: 'ROSTER_CHUNK_LOST' },
      });
      // The job's end deleted every chunk; the lock is released.
      expect(small.storage.list().filter((f) => f.startsWith('roster-chunks/'))).toEqual([]);
      expect(small.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toEqual([]);
    } finally {
      await small.stop();
    }
  });

  it('a job whose instance dies mid-way resumes after its lease, without duplicates or gaps', async () => {
    // Slow database (150 ms a request): the import's one slice needs several seconds for 25 batches.
    // Its instance is killed once the job has saved progress (after its first chunk of 10 batches),
    // as a crash or host failure would.
    const crashy = await ownSandbox({ quota: { latencyMs: 150 } });
    try {
      const fileID = await putUpload(crashy, 'roster-uploads/crash.xlsx', cleanRoster(25000));
      const call = (event: Record<string, unknown>) => gateway(event, ADMIN, crashy);
      const jobDoc = () => crashy.db.dump('roster_jobs').find((d) => d.kind === 'job');
      const pending = call({ action: 'import', fileID });
      await until(() => (jobDoc()?.cursor as number) > 0);
      expect(crashy.functions.crash('roster')).toBe(1);
      const first = await pending;
      expect(first.status).toBe(502);
      expect(String(first.body.error)).toMatch(/function exited/);
      const job = jobDoc()!;
      expect(job.cursor as number).toBeGreaterThan(0);
      expect(job.cursor as number).toBeLessThan(25001);
      expect(crashy.db.dump('roster').length).toBeLessThan(25000);

      // Its lease still holds: a run now answers the status and leaves the job alone.
      crashy.tcb.quota = {};
      const early = await call({ action: 'run', jobId: job._id });
      expect(early.body).toMatchObject({ ok: true, state: 'running', processed: job.processed });
      // After the lease (75 s) the next run continues from the saved cursor.
      await post(crashy, '/sandbox/clock', { offsetSeconds: 80 });
      let status = (await call({ action: 'run', jobId: job._id })).body;
      while (status.state === 'running') status = (await call({ action: 'run', jobId: job._id })).body;
      expect(status).toMatchObject({ state: 'done', total: 25000, failed: 0 });
      const ids = crashy.db.dump('roster').map((d) => d._id);
      expect(ids).toHaveLength(25000);
    } finally {
      await crashy.stop();
    }
  });

  it('under a deployed timeout too short to read the file (3 s), the import is refused at once, naming the setting', async () => {
    const tiny = await ownSandbox({ functionTimeouts: { roster: 3 } });
    try {
      // ~2.8 MB: more than a 1 s prepare budget can read at the conservative 2 MB/s.
      const fileID = await putUpload(tiny, 'roster-uploads/tiny.xlsx', cleanRoster(30000));
      const res = await gateway({ action: 'import', fileID }, ADMIN, tiny);
      expect(res.status).toBe(200); // answered, not killed by the limit
      expect(res.body).toMatchObject({ ok: false, code: 'ROSTER_TIMEOUT_TOO_SHORT' });
      expect(String(res.body.message)).toMatch(/3 秒.*npm run deploy/);
      expect(tiny.storage.list().filter((f) => f.startsWith('roster-uploads/'))).toEqual([]);
      expect(tiny.db.hasCollection('roster') ? tiny.db.dump('roster') : []).toEqual([]);
    } finally {
      await tiny.stop();
    }
  });

  it('under a deployed timeout below the manifest (10 s), slices shrink to fit and the log names the setting', async () => {
    // The function sees the platform's limit as context.time_limit_in_ms: slices of 5 s, not 40.
    const short = await ownSandbox({
      functionTimeouts: { roster: 10 },
      // 10 batches need at least 9 s of database time: more than one 5 s slice on any machine.
      quota: { latencyMs: 300 },
    });
    try {
      const fileID = await putUpload(short, 'roster-uploads/short.xlsx', cleanRoster(10000));
      const call = (event: Record<string, unknown>) => gateway(event, ADMIN, short);
      const started = await call({ action: 'import', fileID });
      expect(started.status).toBe(200);
      let status = (await call({ action: 'status', jobId: started.body.jobId })).body;
      let runs = 0;
      while (status.state === 'running') {
        const res = await call({ action: 'run', jobId: started.body.jobId });
        expect(res.status).toBe(200); // never killed by the 10 s limit
        status = res.body;
        runs += 1;
      }
      expect(status).toMatchObject({ state: 'done', total: 10000, failed: 0 });
      expect(runs).toBeGreaterThan(0);
      expect(short.db.dump('roster')).toHaveLength(10000);
      expect(fs.readFileSync(short.logFile, 'utf8')).toMatch(
        /function timeout is 10 s, below the 60 s roster is built for/,
      );
    } finally {
      await short.stop();
    }
  });

  describe('a deployed timeout too short to read a batch (the service through the real SDK)', () => {
    const logLines: { message: string; fields?: Record<string, unknown> }[] = [];
    const service = (abortAt: number | undefined, sliceDeadline = Number.MAX_SAFE_INTEGER) => {
      const sdk = sdkFor(sandbox, ADMIN);
      const db = typedDb(sdk.database());
      const log = (message: string, fields?: Record<string, unknown>) => void logLines.push({ message, fields });
      return new RosterService({
        db,
        storage: sdk as unknown as CloudStorage,
        keys: piiKeysOf(sandbox),
        throttle: new Throttle(30),
        admins: new AdminDirectory(db, { admins: [ADMIN], reviewers: [] }),
        sliceDeadline,
        // The prepare pauses with the slice (0: after its first batch).
        prepareDeadline: sliceDeadline,
        abortAt,
        maxFileBytes: 128 * 1024 * 1024,
        logger: { info: log, error: log },
      });
    };
    const codeOf = async (work: () => Promise<unknown>) => {
      try {
        await work();
        return 'no error';
      } catch (err) {
        return (err as { code?: string }).code ?? String(err);
      }
    };
    const people = [50220, 50221, 50222].map(person);
    const file = () => csv([HEADER, ...people.map((p) => personRow(p) as string[])]);

    it('past the time before the file is open: refused with the code naming the setting, upload deleted', async () => {
      // An .xlsx is checked before each 64 KB it inflates: the first check is past the time.
      const fileID = await upload(cleanRoster(5), 'too-short.xlsx');
      const before = sandbox.db.dump('roster').length;
      expect(await codeOf(() => service(Date.now() - 1).import(ADMIN, { fileID }))).toBe('ROSTER_TIMEOUT_TOO_SHORT');
      expect(sandbox.storage.list().filter((f) => f.startsWith('roster-uploads/'))).toEqual([]);
      expect(ERRORS.ROSTER_TIMEOUT_TOO_SHORT).toMatch(/超时时间/);
      expect(sandbox.db.dump('roster')).toHaveLength(before);
    });

    it('past the time while a resumed prepare reads the file: the job fails cleanly and the upload goes', async () => {
      const fileID = await upload(file(), 'too-short-run.csv');
      // The first slice works (no limit) but its prepare pauses after the first batch; the next one is out of time at once.
      const big = csv(csvRows(2500));
      const bigID = await upload(big, 'too-short-big.csv');
      const { jobId } = await service(undefined, 0).import(ADMIN, { fileID: bigID });
      expect((await service(undefined).status({ jobId })).state).toBe('running');
      const status = await service(Date.now() - 1).run({ jobId });
      expect(status).toMatchObject({ state: 'failed', failure: { code: 'ROSTER_TIMEOUT_TOO_SHORT' } });
      expect(sandbox.storage.list().filter((f) => f.includes('too-short-big'))).toEqual([]);
      // With time to spare the same service reads it all: the guard only fires past its time.
      const { jobId: ok } = await service(Date.now() + 3_600_000).import(ADMIN, { fileID });
      expect(await service(undefined).status({ jobId: ok })).toMatchObject({ state: 'done', inserted: 3 });
      expect(JSON.stringify(logLines)).not.toContain(people[0]!.idCard);
    });
  });

  it('a database failure mid-import keeps the job: the next run redoes the batch, each person once', async () => {
    const faulty = await ownSandbox();
    try {
      const fileID = await putUpload(faulty, 'roster-uploads/fault.xlsx', cleanRoster(2500));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, faulty);
      // The first batch's insert fails (and is not a duplicate _id: nothing of it is stored).
      await post(faulty, '/sandbox/db/faults', { action: 'database.insertDocument', collection: 'roster' });
      const started = await call({ action: 'import', fileID });
      expect(started).toMatchObject({ ok: true, jobId: expect.any(String) });
      // Nothing was written, and the lease is free: the next run goes on at once.
      expect(faulty.db.dump('roster')).toHaveLength(0);
      let status = await call({ action: 'status', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'running', processed: 0, inserted: 0 });
      const lease = () => faulty.db.dump('roster_jobs').find((d) => d._id === started.jobId)!.leaseUntil;
      expect(lease()).toBe(0);
      // The same in a run: it answers INTERNAL (the driver retries), the job keeps its place, lease free.
      await post(faulty, '/sandbox/db/faults', { action: 'database.insertDocument', collection: 'roster' });
      expect(await call({ action: 'run', jobId: started.jobId })).toMatchObject({ ok: false, code: 'INTERNAL' });
      expect(lease()).toBe(0);
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'running', processed: 0 });
      while (status.state === 'running') status = await call({ action: 'run', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'done', total: 2500, inserted: 2500, failed: 0 });
      const ids = faulty.db.dump('roster').map((d) => d._id);
      expect(ids).toHaveLength(2500);
      const log = fs.readFileSync(faulty.logFile, 'utf8');
      expect(log).toContain('roster slice failed; the next run retries it');
      expect(log).not.toContain(person(0).idCard);
    } finally {
      await faulty.stop();
    }
  });

  it('a failed save while finishing leaves the job running; the next run finishes and cleans up', async () => {
    const finishing = await ownSandbox();
    try {
      const fileID = await putUpload(finishing, 'roster-uploads/finish.xlsx', cleanRoster(500));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, finishing);
      // One batch, so the first job save is the one that marks it done.
      await post(finishing, '/sandbox/db/faults', { action: 'database.modifyDocument', collection: 'roster_jobs' });
      const started = await call({ action: 'import', fileID });
      expect(started).toMatchObject({ ok: true });
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'running' });
      const uploads = () => finishing.storage.list().filter((f) => f.startsWith('roster-uploads/'));
      expect(uploads()).toHaveLength(1); // not cleaned up yet, and not forgotten either
      const done = await call({ action: 'run', jobId: started.jobId });
      expect(done).toMatchObject({ state: 'done', total: 500, failed: 0 });
      expect((done.inserted as number) + (done.unchanged as number)).toBe(500);
      expect(finishing.db.dump('roster')).toHaveLength(500);
      expect(uploads()).toEqual([]);
      expect(finishing.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toEqual([]);
    } finally {
      await finishing.stop();
    }
  });

  it('an array insert the database stored only in part is completed, each person once', async () => {
    const partial = await ownSandbox();
    try {
      const fileID = await putUpload(partial, 'roster-uploads/partial.xlsx', cleanRoster(1000));
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, partial);
      // The batch's insert stores 400 of 1000 documents and then fails (a duplicate _id would look
      // the same to the function): it writes the 600 still missing.
      await post(partial, '/sandbox/db/faults', {
        action: 'database.insertDocument',
        collection: 'roster',
        code: 'DATABASE_REQUEST_FAILED',
        partial: 400,
      });
      const started = await call({ action: 'import', fileID });
      let status = await call({ action: 'status', jobId: started.jobId });
      while (status.state === 'running') status = await call({ action: 'run', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'done', total: 1000, failed: 0 });
      // Known limit: the 400 it stored itself are counted as unchanged (indistinguishable from a
      // concurrent import's), so only the sum is exact.
      expect(status).toMatchObject({ inserted: 600, unchanged: 400 });
      expect(partial.db.dump('roster')).toHaveLength(1000);
      expect(fs.readFileSync(partial.logFile, 'utf8')).toContain(
        'roster batch partly stored already; writing the rest',
      );
    } finally {
      await partial.stop();
    }
  });

  it('a slice killed after writing is redone without duplicates', async () => {
    // Simulate a crash: the roster holds the first 1000 people already, the job was never saved.
    const file = cleanRoster(1500);
    const first = await importFile(cleanRoster(1000), 'partial.xlsx');
    expect(first.status).toMatchObject({ inserted: expect.any(Number) });
    const { status } = await importFile(file, 'full.xlsx');
    expect(status).toMatchObject({ state: 'done', total: 1500, failed: 0 });
    expect((status!.inserted as number) + (status!.unchanged as number) + (status!.updated as number)).toBe(1500);
  });

  it('two different files with the same people imported at once write each person once', async () => {
    const a = csvRows(3000);
    const b = csvRows(3000).map((row) => [...row]);
    b.push(['新来的', person(5000).idCard, person(5000).phone, '外科', 'E999999', '']);
    const [fa, fb] = await Promise.all([upload(csv(a), 'team-a.csv'), upload(csv(b), 'team-b.csv')]);
    const before = rosterIds();
    const started = await Promise.all([
      roster({ action: 'import', fileID: fa }),
      roster({ action: 'import', fileID: fb }),
    ]);
    expect(started.every((r) => r.ok)).toBe(true);
    const finals = await Promise.all(
      started.map(async (r) => {
        let status = await roster({ action: 'status', jobId: r.jobId });
        while (status.state === 'running') status = await roster({ action: 'run', jobId: r.jobId });
        return status;
      }),
    );
    // _id is the person's blind index, so "once" is the sum of inserts matching what was added.
    const ids = sandbox.db.dump('roster').map((d) => d._id);
    const added = ids.filter((id) => !before.has(id)).length;
    // Each new person was inserted by exactly one of the two jobs.
    expect(finals.reduce((sum, f) => sum + Number(f.inserted), 0)).toBe(added);
  });

  it('a second import of a file that is still importing is refused, and its upload deleted', async () => {
    const paused = await ownSandbox({ functionEnv: { ROSTER_SLICE_SECONDS: '0' } });
    try {
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, paused);
      const file = cleanRoster(2500);
      const put = (name: string) => putUpload(paused, `roster-uploads/${name}`, file);
      const first = await call({ action: 'import', fileID: await put('same-1.xlsx') });
      expect(await call({ action: 'status', jobId: first.jobId })).toMatchObject({ state: 'running' });
      const second = await call({ action: 'import', fileID: await put('same-2.xlsx') });
      expect(second).toMatchObject({ ok: false, code: 'ROSTER_ALREADY_IMPORTING' });
      expect(paused.storage.exists('roster-uploads/same-2.xlsx')).toBe(false);

      // Abandoned: nobody continues it. The hourly timer fails it after 30 minutes, deleting its
      // upload and releasing the lock; a timer event sent by a client (with an OPENID) does nothing.
      expect(await call({ Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' })).toMatchObject({ ok: false });
      await post(paused, '/sandbox/clock', { offsetSeconds: 31 * 60 });
      const swept = await paused.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      expect(swept).toMatchObject({ ok: true, result: { abandoned: 1 } });
      expect(await call({ action: 'status', jobId: first.jobId })).toMatchObject({
        state: 'failed',
        failure: { code: 'ROSTER_JOB_ABANDONED' },
      });
      expect(paused.storage.exists('roster-uploads/same-1.xlsx')).toBe(false);
      expect(paused.db.dump('roster_jobs').filter((d) => d.kind === 'lock')).toEqual([]);
      // The same file can be imported again now.
      expect(await call({ action: 'import', fileID: await put('same-3.xlsx') })).toMatchObject({ ok: true });
    } finally {
      await paused.stop();
    }
  });

  it('the sweep deletes error reports past their retention (7 days), and the job says so', async () => {
    const aging = await ownSandbox();
    try {
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, aging);
      const started = await call({
        action: 'import',
        fileID: await putUpload(aging, 'roster-uploads/old.xlsx', rowErrors(5)),
      });
      const status = await call({ action: 'status', jobId: started.jobId });
      expect(status).toMatchObject({ state: 'done', reportFileID: expect.stringContaining('roster-reports/') });
      const reportPath = aging.storage.pathOf(String(status.reportFileID))!;
      const sweep = () => aging.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      // Within the retention the report stays.
      await post(aging, '/sandbox/clock', { offsetSeconds: 6 * 86_400 });
      expect(await sweep()).toMatchObject({ ok: true, result: { reports: 0 } });
      expect(aging.storage.exists(reportPath)).toBe(true);
      await post(aging, '/sandbox/clock', { offsetSeconds: 8 * 86_400 });
      expect(await sweep()).toMatchObject({ ok: true, result: { reports: 1 } });
      expect(aging.storage.exists(reportPath)).toBe(false);
      expect(await call({ action: 'report', jobId: started.jobId })).toMatchObject({
        ok: false,
        code: 'ROSTER_JOB_NOT_FOUND',
        message: expect.stringContaining('保留期限'),
      });
      expect(await call({ action: 'status', jobId: started.jobId })).not.toHaveProperty('reportFileID');
      expect(await sweep()).toMatchObject({ ok: true, result: { reports: 0 } });
    } finally {
      await aging.stop();
    }
  });

  it('an upload that cannot be deleted is logged and recorded, and the sweep deletes it later', async () => {
    const stuck = await ownSandbox();
    try {
      const call = (event: Record<string, unknown>) => roster(event, ADMIN, stuck);
      const fileID = await putUpload(stuck, 'roster-uploads/stuck.xlsx', cleanRoster(20));
      // Storage answers the deletion per file with a failure, as the SDK reports it (no rejection).
      expect((await post(stuck, '/sandbox/storage/faults', { times: 1 })).status).toBe(200);
      const started = await call({ action: 'import', fileID });
      // The import itself is done: a failed cleanup never fails what the admin asked for.
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'done', inserted: 20 });
      expect(stuck.storage.exists('roster-uploads/stuck.xlsx')).toBe(true);
      const pending = stuck.db.dump('pending_cleanup');
      expect(pending).toEqual([expect.objectContaining({ reason: 'import finished', attempts: 1 })]);
      // The record names the file only encrypted (bound to the record): a client reading it learns nothing.
      expect(JSON.stringify(pending)).not.toContain('stuck.xlsx');
      const _id = String(pending[0]!._id);
      expect(decryptField(piiKeysOf(stuck), String(pending[0]!.fileIDEnc), `pending_cleanup:${_id}:fileID`)).toBe(
        fileID,
      );
      const log = fs.readFileSync(stuck.logFile, 'utf8');
      expect(log).toMatch(/"message":"file deletion failed".*1 of 1 file\(s\) not deleted \(status -503001\)/);

      // The next sweep fails once more (recorded again), the one after that deletes it and forgets it.
      await post(stuck, '/sandbox/storage/faults', { times: 1 });
      const sweep = () => stuck.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 0, pending: 1 } } });
      expect(stuck.db.dump('pending_cleanup')).toEqual([expect.objectContaining({ attempts: 2 })]);
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 1, pending: 0 } } });
      expect(stuck.storage.exists('roster-uploads/stuck.xlsx')).toBe(false);
      expect(stuck.db.dump('pending_cleanup')).toEqual([]);
      expect((await post(stuck, '/sandbox/storage/faults', { code: 'oops' })).status).toBe(400);
    } finally {
      await stuck.stop();
    }
  });

  it('an upload no import took is deleted by the sweep after its reserved window; an imported one is gone at once', async () => {
    const orphans = await ownSandbox();
    try {
      const call = (event: Record<string, unknown>, openid = ADMIN) => roster(event, openid, orphans);
      const sweep = () => orphans.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      // Only an admin reserves; the path is the server's, with a random part, keeping a safe name.
      expect(await call({ action: 'reserveUpload', fileName: 'a.xlsx' }, 'o_not_admin')).toMatchObject({
        ok: false,
        code: 'FORBIDDEN',
      });
      const first = await call({ action: 'reserveUpload', fileName: '名单 2026.xlsx' });
      const second = await call({ action: 'reserveUpload', fileName: '名单 2026.xlsx' });
      expect(first).toMatchObject({
        ok: true,
        cloudPath: expect.stringMatching(/^roster-uploads\/\d+-[0-9a-f]{16}-2026\.xlsx$/),
      });
      expect(second.cloudPath).not.toBe(first.cloudPath);
      expect(Number(first.deleteBy) - Date.now()).toBeGreaterThan(3600_000);
      // The page uploads the first and closes before importing; the second is imported.
      const orphan = await putUpload(orphans, String(first.cloudPath), cleanRoster(3));
      const imported = await putUpload(orphans, String(second.cloudPath), cleanRoster(3));
      const started = await call({ action: 'import', fileID: imported });
      expect(await call({ action: 'status', jobId: started.jobId })).toMatchObject({ state: 'done', inserted: 3 });
      expect(orphans.storage.exists(String(second.cloudPath))).toBe(false);
      // The scheduled deletions name the files only encrypted.
      const pending = orphans.db.dump('pending_cleanup');
      expect(pending).toHaveLength(2);
      expect(JSON.stringify(pending)).not.toContain('roster-uploads/');
      // Within the window nothing is touched.
      await post(orphans, '/sandbox/clock', { offsetSeconds: 3600 });
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 0, pending: 0 } } });
      expect(orphans.storage.exists(String(first.cloudPath))).toBe(true);
      // After it the orphan goes, the imported one's record is forgotten (its file was already gone).
      await post(orphans, '/sandbox/clock', { offsetSeconds: 2 * 3600 + 60 });
      expect(await sweep()).toMatchObject({ ok: true, result: { cleanup: { deleted: 2, pending: 0 } } });
      expect(orphans.storage.exists(String(first.cloudPath))).toBe(false);
      expect(orphans.storage.pathOf(orphan)).toBe(first.cloudPath);
      expect(orphans.db.dump('pending_cleanup')).toEqual([]);
      // When the deletion cannot be scheduled nothing is reserved: the admin uploads nothing.
      await post(orphans, '/sandbox/db/faults', { action: 'database.insertDocument', collection: 'pending_cleanup' });
      expect(await call({ action: 'reserveUpload', fileName: 'b.csv' })).toMatchObject({ ok: false, code: 'INTERNAL' });
      expect(orphans.db.dump('pending_cleanup')).toEqual([]);
    } finally {
      await orphans.stop();
    }
  });

  it('refuses a malformed setting by name instead of falling back to a default', async () => {
    const misconfigured = await ownSandbox({ functionEnv: { ROSTER_DB_QPS: 'x', ROSTER_SLICE_SECONDS: '4O' } });
    try {
      expect(await roster({ action: 'template' }, ADMIN, misconfigured)).toEqual({
        ok: false,
        code: 'NOT_CONFIGURED',
        message: '服务尚未完成配置（ROSTER_SLICE_SECONDS、ROSTER_DB_QPS），请联系管理员',
      });
      const log = fs.readFileSync(misconfigured.logFile, 'utf8');
      expect(log).toContain('ROSTER_DB_QPS must be a whole number from 1 to 500');
      expect(log).toContain('ROSTER_SLICE_SECONDS must be a whole number from 0 to 60');
      // The sweep needs none of it: abandoned uploads still go.
      const swept = await misconfigured.invoke('roster', { Type: 'Timer', TriggerName: 'sweep-abandoned-jobs' }, '');
      expect(swept).toMatchObject({ ok: true, result: { abandoned: 0, cleanup: { deleted: 0, pending: 0 } } });
    } finally {
      await misconfigured.stop();
    }
  });
});
