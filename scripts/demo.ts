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
 *   the roster as an admin (template, upload, import, run until done, the error report downloaded).
 *
 * Every run uses new made-up people and callers, so it can be repeated against the same sandbox.
 * The reviewer (default o_demo_admin, a reviewer while REVIEWER_OPENIDS is unset) and the roster
 * admin (default o_demo_admin, seeded by `npm start`) can be changed. Personal data is printed
 * masked. The sandbox's token (listening beyond loopback) is read from its data dir (SANDBOX_DATA_DIR
 * or .sandbox/) or SANDBOX_TOKEN. Exits 0 when every step answered as expected, 1 otherwise.
 */
import crypto from 'crypto';
import path from 'path';
import { noticeVersion } from '../miniprogram/shared/consent';
import type { VerificationMethod } from '../miniprogram/shared/contracts';
import { makeIdCard } from '../miniprogram/shared/idcard';
import { maskDocNumber, maskIdCard, maskName } from '../miniprogram/shared/mask';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../sandbox';
import { DEMO_ADMIN_OPENID } from '../sandbox/demo';
import { sessionHeaders } from '../sandbox/session';
import { parseArgs, UsageError } from './lib/deploy';

const ARGS = { sandbox: 'value', reviewer: 'value', admin: 'value' } as const;

type Answer = Record<string, unknown>;

class StepFailed extends Error {}

/** A made-up person with a checksum-valid ID number, new on every run. */
function someone(name: string): { name: string; idCardNumber: string } {
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

async function face(t: Tour, run: string): Promise<void> {
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
  await t.call('face', user, { action: 'confirm', ...proof }, refused());
  await t.call('face', user, { action: 'status' }, (a) => ok(a) && Array.isArray(a.bindings) && a.bindings.length > 0);
}

async function wxcheck(t: Tour, run: string): Promise<void> {
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
  const stranger = caller('wxcheck_nopay', run);
  const typed = someone('吴敏');
  const none = await t.simulate(
    '/sandbox/citycheck/authorize',
    { openid: stranger, scenario: 'no_realname' },
    'a user who never gave WeChat Pay a real name',
  );
  await t.call('realname', stranger, { action: 'check', ...typed, code: none.code, ...agreed('wxcheck') }, refused());
}

async function wxpay(t: Tour, run: string): Promise<void> {
  t.section('wxpay (微信支付实名授权): WeChat Pay authorization → realname.fetch');
  const user = caller('wxpay', run);
  const auth = await t.simulate(
    '/sandbox/realname/authorize',
    { openid: user, ...someone('郑华') },
    'the user authorizes WeChat Pay’s real name',
  );
  await t.call(
    'realname',
    user,
    { action: 'fetch', authToken: auth.auth_token, noticeVersion: noticeVersion('wxpay') },
    bound('wxpay'),
  );
  await t.call(
    'realname',
    user,
    { action: 'fetch', authToken: 'not-a-real-token', noticeVersion: noticeVersion('wxpay') },
    refused(),
  );
}

/** Consent as the method's page gives it: ticked, with the version of the notice it shows. */
const agreed = (method: VerificationMethod) => ({ consent: true, noticeVersion: noticeVersion(method) });

async function manual(t: Tour, run: string, reviewer: string): Promise<void> {
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

/** Two good rows and one with a wrong ID number (the error report has it). */
function rosterCsv(): string {
  const rows = [['姓名', '身份证号', '手机号', '部门']];
  for (const [i, name] of ['陈一', '陈二'].entries()) {
    rows.push([name, someone(name).idCardNumber, `1380000000${i + 1}`, '内科']);
  }
  rows.push(['陈三', '110105198801010000', '13800000003', '儿科']);
  return rows.map((r) => r.join(',')).join('\n') + '\n';
}

async function roster(t: Tour, run: string, admin: string): Promise<void> {
  t.section(`roster (名单导入) as admin ${admin}: template, upload, import, run, error report`);
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
  const fileID = await t.upload(`roster-uploads/tour-${run}.csv`, Buffer.from(rosterCsv(), 'utf8'), admin);
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

/** Runs every flow `methods` enables; answers the number of steps. */
export async function tour(t: Tour, options: { reviewer: string; admin: string }): Promise<number> {
  const run = crypto.randomBytes(4).toString('hex');
  t.section(`sandbox ${t.url}`);
  const health = await t.get('/health');
  const functions = (health.functions as string[] | undefined) ?? [];
  t.note(`env ${String(health.env)}, functions: ${functions.join(', ') || 'none (was it deployed? npm start does)'}`);
  t.section('ping and the methods offered');
  const user = caller('user', run);
  await t.call('ping', user, { action: 'ping' }, (a) => ok(a) && a.openid === user);
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
