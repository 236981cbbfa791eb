/**
 * Demo data for `npm start` (idempotent): the admin who may import rosters, and a small demo roster
 * imported through the real `roster` function (so 已在名单中 shows for the first two demo identities).
 */
import type { Sandbox } from '.';
import { makeIdCard } from '../miniprogram/shared/idcard';
import { DEMO_ADMIN_OPENID, DEMO_IDENTITIES } from './demo';

const DEPARTMENTS = ['内科', '外科', '儿科', '行政部'];

/** The demo roster as CSV: two demo identities and 18 more made-up people. */
export function demoRosterCsv(): string {
  const rows = [['姓名', '身份证号', '手机号', '部门']];
  for (const d of DEMO_IDENTITIES.slice(0, 2)) rows.push([d.name, d.idCardNumber, '13800000000', '内科']);
  const surnames = '赵钱孙李周吴郑王冯陈';
  for (let i = 0; i < 18; i += 1) {
    const birth = `19${70 + i}0${(i % 9) + 1}1${i % 10}`;
    rows.push([
      `${surnames.charAt(i % 10)}${'明华芳静'.charAt(i % 4)}`,
      makeIdCard('440106', birth, String(100 + i)),
      `139${String(10000000 + i * 7919).slice(0, 8)}`,
      DEPARTMENTS[i % DEPARTMENTS.length]!,
    ]);
  }
  return rows.map((r) => r.join(',')).join('\n') + '\n';
}

export async function seedDemo(sandbox: Sandbox): Promise<string[]> {
  const done: string[] = [];
  if (sandbox.db.query('admins', { _id: DEMO_ADMIN_OPENID }).length === 0) {
    sandbox.db.insert('admins', [{ _id: DEMO_ADMIN_OPENID, note: 'demo admin (sandbox)', addedAt: new Date() }]);
    done.push(`admin ${DEMO_ADMIN_OPENID}`);
  }
  if (sandbox.db.count('roster', {}) === 0 && sandbox.functions.deployed('roster')) {
    // As the page and the CLI do: the function names the place (and schedules its deletion), the file goes there.
    const reserved = await sandbox.invoke(
      'roster',
      { action: 'reserveUpload', fileName: 'demo-roster.csv' },
      DEMO_ADMIN_OPENID,
    );
    const cloudPath = reserved.ok ? (reserved.result as { cloudPath?: string }).cloudPath : undefined;
    const fileID = sandbox.storage.write(
      cloudPath ?? 'roster-uploads/demo-roster.csv',
      Buffer.from(demoRosterCsv(), 'utf8'),
    );
    const started = await sandbox.invoke('roster', { action: 'import', fileID }, DEMO_ADMIN_OPENID);
    const jobId = started.ok ? (started.result as { jobId?: string }).jobId : undefined;
    let state = 'running';
    for (let i = 0; jobId && state === 'running' && i < 20; i += 1) {
      const run = await sandbox.invoke('roster', { action: 'run', jobId }, DEMO_ADMIN_OPENID);
      state = run.ok ? String((run.result as { state?: string }).state) : 'failed';
    }
    done.push(
      state === 'done' ? `demo roster (${sandbox.db.count('roster', {})} people)` : 'demo roster FAILED (see logs)',
    );
  }
  return done;
}
