/**
 * `npm run demo [-- --sandbox <url>] [-- --reviewer <openid>] [-- --admin <openid>]`: a guided tour
 * in the terminal, for a user without WeChat DevTools. Against a running sandbox (`npm start`;
 * default http://127.0.0.1:$SANDBOX_PORT or 8787) it drives every flow the server has enabled
 * through the gateway, as the mini-program would, and prints each request and answer in short:
 *
 *   ping; identity.methods; per enabled method its happy path and one refusal (face: start →
 *   WeChat's face screen (/sandbox/face/complete) → confirm; wxcheck: WeChat's consent page
 *   (/sandbox/citycheck/authorize) → realname.check; wxpay: /sandbox/realname/authorize →
 *   realname.fetch; manual: review.submit → a reviewer's queue and decide → the holder's mine);
 *   the roster as an admin (template, upload, import, run until done, the error report downloaded);
 *   the admin views as the admin (admin.lookup of a person verified above, admin.coverage,
 *   admin.audit by person and by period, admin.export with the .xlsx downloaded and its rows counted,
 *   the review queue and a rejection) and the person's rights (identity.mine, identity.withdraw).
 *
 * Every run uses new made-up people and callers, so it can be repeated against the same sandbox.
 * The reviewer (default o_demo_admin, a reviewer while REVIEWER_OPENIDS is unset) and the roster
 * admin (default o_demo_admin, seeded by `npm start`) can be changed. Personal data is printed
 * masked. The sandbox's token (listening beyond loopback) is read from its data dir (SANDBOX_DATA_DIR
 * or .sandbox/) or SANDBOX_TOKEN. Exits 0 when every step answered as expected, 1 otherwise.
 */
import crypto from 'crypto';
import path from 'path';
import xlsx from 'node-xlsx';
import { noticeVersion } from '../miniprogram/shared/consent';
import type { VerificationMethod } from '../miniprogram/shared/contracts';
import { idCardCheckChar, makeIdCard } from '../miniprogram/shared/idcard';
import { maskDocNumber, maskIdCard, maskName } from '../miniprogram/shared/mask';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../sandbox';
import { DEMO_ADMIN_OPENID } from '../sandbox/demo';
import { sessionHeaders } from '../sandbox/session';
import { parseArgs, UsageError } from './lib/deploy';

const ARGS = { sandbox: 'value', reviewer: 'value', admin: 'value' } as const;

type Answer = Record<string, unknown>;

class StepFailed extends Error {}

/** The names the tour types in (made up; the tests check none of them is ever printed). */
export const TOUR_NAMES = ['林小雨', '周海', '吴敏', '郑华', 'JOHN SMITH', 'MARY JONES', '陈一', '陈二', '陈三'];

interface Person {
  name: string;
  idCardNumber: string;
}

/** A made-up person with a checksum-valid ID number, new on every run. */
function someone(name: string): Person {
  const day = String(1 + crypto.randomInt(28)).padStart(2, '0');
  const seq = String(crypto.randomInt(1000)).padStart(3, '0');
  return {
    name,
    idCardNumber: makeIdCard('110105', `1988${String(1 + crypto.randomInt(12)).padStart(2, '0')}${day}`, seq),
  };
}

const MASKS: Record<string, (value: string) => string> = {
  name: maskName,
  idCardNumber: maskIdCard,
  docNumber: maskDocNumber,
};

/** A value in short: personal fields masked, long strings cut, at most ~160 characters. */
export function brief(value: unknown): string {
  const text = JSON.stringify(value, (key, v: unknown) => {
    if (typeof v !== 'string') return v;
    const mask = MASKS[key];
    if (mask) return mask(v);
    return v.length > 28 ? `${v.slice(0, 24)}…` : v;
  });
  return text.length > 160 ? `${text.slice(0, 157)}…` : text;
}

export class Tour {
  private steps = 0;
  private readonly headers: Record<string, string>;

  constructor(
    readonly url: string,
    headers: Record<string, string>,
    private readonly log: (line: string) => void = (line) => console.log(line),
  ) {
    this.headers = headers;
  }

  section(title: string): void {
    this.log(`\n== ${title}`);
  }

  note(text: string): void {
    this.log(`   ${text}`);
  }

  private async http(method: string, route: string, body?: unknown, openid?: string): Promise<Answer> {
    const res = await fetch(`${this.url}${route}`, {
      method,
      headers: {
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(openid ? { 'X-WX-OPENID': openid } : {}),
        ...this.headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let answer: Answer;
    try {
      answer = JSON.parse(text) as Answer;
    } catch {
      answer = { text: text.slice(0, 200) };
    }
    if (res.status !== 200) {
      this.log(`   ← ${res.status} ${brief(answer)}`);
      throw new StepFailed(
        res.status === 403 && /token/.test(String(answer.error))
          ? `${route}: the sandbox wants its token (listening beyond loopback): run the demo on the sandbox's machine, or set SANDBOX_TOKEN`
          : `${method} ${route} answered ${res.status}`,
      );
    }
    return answer;
  }

  /** A call of `action` of function `fn` as `openid` through the gateway; `expect` checks the answer. */
  async call(fn: string, openid: string, event: Answer, expect: (a: Answer) => boolean): Promise<Answer> {
    this.steps += 1;
    this.log(`   → ${fn}.${String(event.action)} as ${openid} ${brief({ ...event, action: undefined })}`);
    const answer = await this.http('POST', `/gateway/functions/${fn}`, event, openid);
    this.log(`   ← ${brief(answer)}`);
    if (!expect(answer)) throw new StepFailed(`${fn}.${String(event.action)} did not answer as expected`);
    return answer;
  }

  /** What WeChat's client or the user does, through the sandbox's simulation endpoints. */
  async simulate(route: string, body: Answer, what: string): Promise<Answer> {
    this.steps += 1;
    this.log(`   → ${what}: POST ${route} ${brief(body)}`);
    const answer = await this.http('POST', route, body);
    this.log(`   ← ${brief(answer)}`);
    return answer;
  }

  async get(route: string): Promise<Answer> {
    return this.http('GET', route);
  }

  /** Uploads `content` as `openid` (what wx.uploadFile does in sandbox mode); answers the file ID. */
  async upload(cloudPath: string, content: Buffer, openid: string): Promise<string> {
    this.steps += 1;
    this.log(`   → upload ${cloudPath} (${content.length} bytes) as ${openid}`);
    const res = await fetch(`${this.url}/sandbox/storage/upload?cloudPath=${encodeURIComponent(cloudPath)}`, {
      method: 'POST',
      headers: { 'X-WX-OPENID': openid, ...this.headers },
      body: content,
    });
    const answer = (await res.json()) as Answer;
    this.log(`   ← ${res.status} ${brief(answer)}`);
    if (res.status !== 200 || typeof answer.fileID !== 'string') throw new StepFailed('upload failed');
    return answer.fileID;
  }

  /** Downloads a temp link (a file the function shared); answers its bytes. */
  async download(url: string, what: string): Promise<Buffer> {
    this.steps += 1;
    const res = await fetch(encodeURI(url));
    const content = Buffer.from(await res.arrayBuffer());
    this.log(`   ↓ ${what}: ${res.status}, ${content.length} bytes`);
    if (res.status !== 200 || content.length === 0) throw new StepFailed(`${what} could not be downloaded`);
    return content;
  }

  get count(): number {
    return this.steps;
  }
}

const ok = (a: Answer) => a.ok === true;
const refused = (code?: string) => (a: Answer) => a.ok === false && (code === undefined || a.code === code);
const bound = (method: string) => (a: Answer) =>
  ok(a) && (a.binding as { method?: string } | undefined)?.method === method;

/** A caller of its own for each flow of this run (per-caller limits and bindings stay apart). */
function caller(flow: string, run: string): string {
  return `o_tour_${flow}_${run}`;
}

/** Who this run verified with an ID card (the admin views look them up; the roster holds the first). */
interface Verified {
  openid: string;
  method: VerificationMethod;
  person: Person;
}

/** What the flows of one run share. */
interface Run {
  id: string;
  verified: Verified[];
  /** The functions' clock minus this machine's (the sandbox's clock can be moved: POST /sandbox/clock). */
  clockOffsetMs: number;
}

async function face(t: Tour, { id: run, verified }: Run): Promise<void> {
  t.section('face (人脸核身): start → WeChat face screen → confirm');
  const user = caller('face', run);
  const person = someone('林小雨');
  await t.call('face', user, { action: 'start', ...person, consent: false }, refused('CONSENT_REQUIRED'));
  const started = await t.call('face', user, { action: 'start', ...person, ...agreed('face') }, ok);
  const v2 = started.mode === 'v2';
  t.note(`the server runs face API ${String(started.mode)} (FACE_API_VERSION)`);
  const done = await t.simulate(
    '/sandbox/face/complete',
    { openid: user, ...(v2 ? { verifyId: started.verifyId } : { userIdKey: started.userIdKey }), outcome: 'pass' },
    'the user passes the face check',
  );
  const proof = v2 ? { verifyId: started.verifyId } : { verifyResult: done.verifyResult };
  await t.call('face', user, { action: 'confirm', ...proof }, bound('face'));
  verified.push({ openid: user, method: 'face', person });
  await t.call('face', user, { action: 'confirm', ...proof }, refused());
  await t.call('face', user, { action: 'status' }, (a) => ok(a) && Array.isArray(a.bindings) && a.bindings.length > 0);
}

async function wxcheck(t: Tour, { id: run, verified }: Run): Promise<void> {
  t.section('wxcheck (实名信息校验): WeChat consent page → realname.check');
  const user = caller('wxcheck', run);
  const person = someone('周海');
  const consent = await t.simulate(
    '/sandbox/citycheck/authorize',
    { openid: user, ...person },
    'the user agrees on WeChat’s page (WeChat Pay knows them as typed)',
  );
  await t.call(
    'realname',
    user,
    { action: 'check', ...person, code: consent.code, ...agreed('wxcheck') },
    bound('wxcheck'),
  );
  verified.push({ openid: user, method: 'wxcheck', person });
  const stranger = caller('wxcheck_nopay', run);
  const typed = someone('吴敏');
  const none = await t.simulate(
    '/sandbox/citycheck/authorize',
    { openid: stranger, scenario: 'no_realname' },
    'a user who never gave WeChat Pay a real name',
  );
  await t.call('realname', stranger, { action: 'check', ...typed, code: none.code, ...agreed('wxcheck') }, refused());
}

async function wxpay(t: Tour, { id: run, verified }: Run): Promise<void> {
  t.section('wxpay (微信支付实名授权): WeChat Pay authorization → realname.fetch');
  const user = caller('wxpay', run);
  const person = someone('郑华');
  const auth = await t.simulate(
    '/sandbox/realname/authorize',
    { openid: user, ...person },
    'the user authorizes WeChat Pay’s real name',
  );
  await t.call(
    'realname',
    user,
    { action: 'fetch', authToken: auth.auth_token, noticeVersion: noticeVersion('wxpay') },
    bound('wxpay'),
  );
  verified.push({ openid: user, method: 'wxpay', person });
  await t.call(
    'realname',
    user,
    { action: 'fetch', authToken: 'not-a-real-token', noticeVersion: noticeVersion('wxpay') },
    refused(),
  );
}

/** Consent as the method's page gives it: ticked, with the version of the notice it shows. */
const agreed = (method: VerificationMethod) => ({ consent: true, noticeVersion: noticeVersion(method) });

async function manual(t: Tour, { id: run }: Run, reviewer: string): Promise<void> {
  t.section(`manual (人工核验): review.submit → reviewer ${reviewer} decides`);
  const holder = caller('manual', run);
  const passport = `E${String(crypto.randomInt(1e8)).padStart(8, '0')}`;
  const doc = { name: 'JOHN SMITH', docType: 'passport', docNumber: passport };
  await t.call('review', holder, { action: 'submit', ...doc, consent: false }, refused('CONSENT_REQUIRED'));
  const submitted = await t.call('review', holder, { action: 'submit', ...doc, ...agreed('manual') }, ok);
  const requestId = String(submitted.requestId);
  const methods = await t.call('identity', reviewer, { action: 'methods' }, ok);
  if (methods.reviewer !== true) {
    throw new StepFailed(
      `${reviewer} is not a reviewer on this sandbox (REVIEWER_OPENIDS is set): pass --reviewer <one of them>`,
    );
  }
  await t.call('review', holder, { action: 'decide', requestId, approve: true, docNumber: passport }, refused());
  await t.call(
    'review',
    reviewer,
    { action: 'queue' },
    (a) => ok(a) && (a.requests as Array<{ requestId: string }>).some((r) => r.requestId === requestId),
  );
  await t.call(
    'review',
    reviewer,
    // The reviewer types the number off the original document (here: the one submitted).
    { action: 'decide', requestId, approve: true, docNumber: passport },
    (a) => ok(a) && (a.request as { state?: string }).state === 'approved',
  );
  await t.call(
    'review',
    holder,
    { action: 'mine' },
    (a) => ok(a) && (a.requests as Array<{ requestId: string; state: string }>).some((r) => r.state === 'approved'),
  );
}

/**
 * Two good rows, one with a wrong ID number (the error report has it), and the first person this run
 * verified (so the admin's lookup finds them in the roster).
 */
function rosterCsv(verified: Verified[]): string {
  const rows = [['姓名', '身份证号', '手机号', '部门']];
  for (const [i, name] of ['陈一', '陈二'].entries()) {
    rows.push([name, someone(name).idCardNumber, `1380000000${i + 1}`, '内科']);
  }
  rows.push(['陈三', '110105198801010000', '13800000003', '儿科']);
  const first = verified[0]?.person;
  if (first) rows.push([first.name, first.idCardNumber, '13800000004', '外科']);
  return rows.map((r) => r.join(',')).join('\n') + '\n';
}

async function roster(t: Tour, { id: run, verified }: Run, admin: string): Promise<void> {
  t.section(`roster (名单导入) as admin ${admin}: template, reserve, upload, import, run, error report`);
  const outsider = caller('roster', run);
  await t.call('roster', outsider, { action: 'access' }, (a) => ok(a) && a.admin === false);
  const access = await t.call('roster', admin, { action: 'access' }, ok);
  if (access.admin !== true) {
    throw new StepFailed(
      `${admin} is not a roster admin on this sandbox: pass --admin <openid> (ROSTER_ADMIN_OPENIDS)`,
    );
  }
  const template = await t.call('roster', admin, { action: 'template' }, (a) => ok(a) && Boolean(a.tempFileURL));
  await t.download(String(template.tempFileURL), 'template .xlsx');
  // The function names the upload's place (and schedules its deletion in case no import takes it).
  const reserved = await t.call('roster', admin, { action: 'reserveUpload', fileName: `tour-${run}.csv` }, ok);
  const fileID = await t.upload(String(reserved.cloudPath), Buffer.from(rosterCsv(verified), 'utf8'), admin);
  await t.call('roster', outsider, { action: 'import', fileID }, refused());
  const started = await t.call('roster', admin, { action: 'import', fileID, dryRun: false }, ok);
  const jobId = String(started.jobId);
  let status = await t.call('roster', admin, { action: 'status', jobId }, ok);
  for (let i = 0; status.state === 'running' && i < 50; i += 1) {
    status = await t.call('roster', admin, { action: 'run', jobId }, ok);
  }
  if (status.state !== 'done' || status.failed !== 1)
    throw new StepFailed('the import did not end with one failed row');
  t.note(
    `imported: ${String(status.inserted)} new, ${String(status.updated)} updated, ${String(status.failed)} with errors`,
  );
  const report = await t.call('roster', admin, { action: 'report', jobId }, (a) => ok(a) && Boolean(a.tempFileURL));
  const content = await t.download(String(report.tempFileURL), 'error report .xlsx');
  if (content.subarray(0, 2).toString('latin1') !== 'PK') throw new StepFailed('the error report is not an .xlsx');
}

/** The same well-formed number with a wrong check character (answered ID_CHECKSUM). */
function wrongCheck(idCardNumber: string): string {
  const right = idCardCheckChar(idCardNumber.slice(0, 17));
  return idCardNumber.slice(0, 17) + (right === '0' ? '1' : '0');
}

/** `entries` in short: how many of each `<function>.<action> <outcome>`. */
function tally(entries: unknown): string {
  const counts = new Map<string, number>();
  for (const e of (entries as Array<{ action: string; outcome: string }> | undefined) ?? []) {
    const key = `${e.action} ${e.outcome}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([key, n]) => (n > 1 ? `${key} ×${n}` : key)).join(', ') || 'none';
}

/** A reviewer's rejection: the queue, a decision without a reason (refused), a rejection, the holder's view. */
async function rejection(t: Tour, { id: run }: Run, reviewer: string): Promise<void> {
  t.section(`review (审核) as reviewer ${reviewer}: the queue and a rejection`);
  const holder = caller('manual_rejected', run);
  const doc = {
    name: 'MARY JONES',
    docType: 'passport',
    docNumber: `K${String(crypto.randomInt(1e8)).padStart(8, '0')}`,
  };
  const submitted = await t.call('review', holder, { action: 'submit', ...doc, ...agreed('manual') }, ok);
  const requestId = String(submitted.requestId);
  const queue = await t.call(
    'review',
    reviewer,
    { action: 'queue' },
    (a) => ok(a) && (a.requests as Array<{ requestId: string }>).some((r) => r.requestId === requestId),
  );
  t.note(`${(queue.requests as unknown[]).length} request(s) waiting, masked`);
  await t.call('review', reviewer, { action: 'decide', requestId, approve: false }, refused('REVIEW_REASON_REQUIRED'));
  await t.call(
    'review',
    reviewer,
    { action: 'decide', requestId, approve: false, reason: '证件照片页不清晰，请携带原件到窗口办理' },
    (a) => ok(a) && (a.request as { state?: string }).state === 'rejected',
  );
  await t.call(
    'review',
    holder,
    { action: 'mine' },
    (a) => ok(a) && (a.requests as Array<{ requestId: string; state: string }>).some((r) => r.state === 'rejected'),
  );
}

/**
 * The admin views as `admin`: a person this run verified (or a stranger when no ID-card method is
 * enabled) looked up, the roster's coverage, the audit trail by person and by period, the masked
 * export downloaded and its rows counted; an outsider and a bad period are refused.
 */
async function adminViews(t: Tour, { id: run, verified, clockOffsetMs }: Run, admin: string): Promise<void> {
  t.section(`admin (管理员视图) as admin ${admin}: lookup, coverage, audit, export`);
  await t.call('admin', caller('outsider', run), { action: 'coverage' }, refused('FORBIDDEN'));
  const subject = verified[0];
  const person = subject?.person ?? someone('吴敏');
  const found = await t.call(
    'admin',
    admin,
    { action: 'lookup', idCardNumber: person.idCardNumber },
    (a) => a.ok !== undefined,
  );
  if (found.ok === false && found.code === 'FORBIDDEN') {
    throw new StepFailed(`${admin} is not an admin on this sandbox: pass --admin <openid> (ROSTER_ADMIN_OPENIDS)`);
  }
  const bindings = (found.bindings as Array<{ method: string }> | undefined) ?? [];
  if (!ok(found) || (subject !== undefined) !== bindings.length > 0) {
    throw new StepFailed('admin.lookup did not answer as expected');
  }
  t.note(
    `verified by: ${bindings.map((b) => b.method).join(', ') || 'nobody'}; in the roster: ${String(found.inRoster)}`,
  );
  await t.call(
    'admin',
    admin,
    { action: 'lookup', idCardNumber: wrongCheck(person.idCardNumber) },
    refused('ID_CHECKSUM'),
  );
  const coverage = await t.call(
    'admin',
    admin,
    { action: 'coverage' },
    (a) => ok(a) && typeof a.rosterTotal === 'number',
  );
  t.note(
    `roster ${String(coverage.rosterTotal)} people, ${String(coverage.verified)} verified ${JSON.stringify(coverage.byMethod)}, ${String(coverage.outsideRoster)} verified outside it`,
  );
  const about = await t.call(
    'admin',
    admin,
    { action: 'audit', idCardNumber: person.idCardNumber },
    (a) => ok(a) && Array.isArray(a.entries) && (subject === undefined || a.entries.length > 0),
  );
  t.note(`about this person: ${tally(about.entries)}`);
  // The last hour by the functions' clock (a minute's margin past it).
  const to = new Date(Date.now() + clockOffsetMs + 60_000);
  const from = new Date(to.getTime() - 3_660_000);
  const period = await t.call(
    'admin',
    admin,
    { action: 'audit', from: from.toISOString(), to: to.toISOString() },
    (a) => ok(a) && Array.isArray(a.entries) && a.entries.length > 0,
  );
  t.note(`the last hour: ${(period.entries as unknown[]).length} entries${period.truncated ? ' (truncated)' : ''}`);
  await t.call(
    'admin',
    admin,
    { action: 'audit', from: to.toISOString(), to: from.toISOString() },
    refused('AUDIT_RANGE_INVALID'),
  );
  const exported = await t.call('admin', admin, { action: 'export' }, (a) => ok(a) && Boolean(a.tempFileURL));
  const content = await t.download(String(exported.tempFileURL), 'coverage export .xlsx');
  const sheets = xlsx.parse(content);
  const rows = sheets[0]?.data.length ?? 0;
  if (rows < 1) throw new StepFailed('the export has no header row');
  t.note(`sheet “${sheets[0]!.name}”: ${rows - 1} people (masked names and ID numbers), ${content.length} bytes`);
}

/** The person's rights: what is held about them (masked), a withdrawal, and the audit's record of it. */
async function rights(t: Tour, subject: Verified, admin: string): Promise<void> {
  t.section(`identity (个人权利) as ${subject.openid}: mine, withdraw`);
  const mine = await t.call(
    'identity',
    subject.openid,
    { action: 'mine' },
    (a) => ok(a) && (a.bindings as Array<{ method: string }>).some((b) => b.method === subject.method),
  );
  t.note(`${(mine.bindings as unknown[]).length} binding(s), ${(mine.consents as unknown[]).length} consent record(s)`);
  await t.call('identity', subject.openid, { action: 'withdraw', method: 'nope' }, refused('INVALID_REQUEST'));
  await t.call(
    'identity',
    subject.openid,
    { action: 'withdraw', method: subject.method },
    (a) => ok(a) && (a.removed as { bindings: number }).bindings === 1,
  );
  await t.call(
    'identity',
    subject.openid,
    { action: 'mine' },
    (a) => ok(a) && !(a.bindings as Array<{ method: string }>).some((b) => b.method === subject.method),
  );
  const about = await t.call(
    'admin',
    admin,
    { action: 'audit', idCardNumber: subject.person.idCardNumber },
    (a) => ok(a) && (a.entries as Array<{ action: string }>).some((e) => e.action === 'identity.withdraw'),
  );
  t.note(`the audit now holds: ${tally(about.entries)}`);
}

/** Runs every flow `methods` enables; answers the number of steps. */
export async function tour(t: Tour, options: { reviewer: string; admin: string }): Promise<number> {
  const run: Run = { id: crypto.randomBytes(4).toString('hex'), verified: [], clockOffsetMs: 0 };
  t.section(`sandbox ${t.url}`);
  const health = await t.get('/health');
  const functions = (health.functions as string[] | undefined) ?? [];
  t.note(`env ${String(health.env)}, functions: ${functions.join(', ') || 'none (was it deployed? npm start does)'}`);
  t.section('ping and the methods offered');
  const user = caller('user', run.id);
  const pong = await t.call('ping', user, { action: 'ping' }, (a) => ok(a) && a.openid === user);
  run.clockOffsetMs = (Date.parse(String(pong.now)) || Date.now()) - Date.now();
  await t.call('ping', user, { action: 'nope' }, refused());
  const methods = (await t.call('identity', user, { action: 'methods' }, ok)).methods as string[];
  const flows: Record<string, () => Promise<void>> = {
    wxcheck: () => wxcheck(t, run),
    face: () => face(t, run),
    manual: () => manual(t, run, options.reviewer),
    wxpay: () => wxpay(t, run),
  };
  for (const method of methods) await flows[method]?.();
  if (functions.includes('roster')) await roster(t, run, options.admin);
  if (methods.includes('manual')) await rejection(t, run, options.reviewer);
  if (functions.includes('admin')) await adminViews(t, run, options.admin);
  const subject = run.verified[0];
  if (subject && functions.includes('identity') && functions.includes('admin')) await rights(t, subject, options.admin);
  return t.count;
}

export async function main(argv: string[]): Promise<number> {
  let url = '';
  try {
    const args = parseArgs(argv, ARGS);
    url = (args.sandbox ?? `http://127.0.0.1:${process.env.SANDBOX_PORT?.trim() || DEFAULT_PORT}`).replace(/\/+$/, '');
    const token = process.env.SANDBOX_TOKEN?.trim();
    const headers = token
      ? { 'X-Sandbox-Token': token }
      : sessionHeaders(path.resolve(process.env.SANDBOX_DATA_DIR ?? DEFAULT_DATA_DIR), url);
    const t = new Tour(url, headers);
    const steps = await tour(t, {
      reviewer: args.reviewer ?? DEMO_ADMIN_OPENID,
      admin: args.admin ?? DEMO_ADMIN_OPENID,
    });
    console.log(`\ndemo done: ${steps} steps, every flow answered as expected`);
    return 0;
  } catch (err) {
    const message = (err as Error).message;
    if (err instanceof UsageError) console.error(message);
    else if (/fetch failed|ECONNREFUSED/.test(`${message} ${String((err as { cause?: unknown }).cause)}`)) {
      console.error(`cannot reach the sandbox at ${url}: start it with \`npm start\` (or pass --sandbox <url>)`);
    } else console.error(`demo stopped: ${message}`);
    return 1;
  }
}
