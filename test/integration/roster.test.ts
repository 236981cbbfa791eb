/**
 * Roster import end to end: files uploaded to sandbox storage as the page and the CLI do, imported
 * by the real `roster` function through the real SDK, checked in the sandbox database. Resumed,
 * sliced and concurrent imports: roster-slices.test.ts; faults and cleanup: roster-faults.test.ts
 * (shared helpers: test/helpers/roster-suite.ts).
 */
import { noticeVersion } from '../../miniprogram/shared/consent';
import { spawn } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { piiKeysOf, post, reserveUpload, rosterFieldsOf } from '../helpers/sandbox';
import {
  ADMIN,
  cleanRosterPeople,
  importFile,
  roster,
  rosterIds,
  sandbox,
  upload,
  useSuiteSandbox,
} from '../helpers/roster-suite';
import { blindIndex, encryptField } from '../../server/core/pii';
import { rosterAad } from '../../server/lib/roster-record';
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

useSuiteSandbox();

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
    // Job bookkeeping only (job, lock, lock release, final state, the upload's reservation removed with
    // the upload) besides one audit entry per admin call: no roster write.
    const audited = sandbox.db.dump('audit_log').length - auditBefore;
    expect(audited).toBeGreaterThanOrEqual(2);
    expect(sandbox.tcb.stats.writes - writesBefore - audited).toBeLessThanOrEqual(5);
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
