/**
 * The roster integration suites' shared helpers (test/integration/roster*.test.ts): one admin, a
 * suite sandbox (`useSuiteSandbox`) or a test's own (`ownSandbox`), uploads and `roster` calls
 * through the gateway, and an import driven to its end as the page and the CLI drive it.
 */
import type { Sandbox } from '../../sandbox';
import { freshSandbox, persistedText, piiKeysOf, post, sdkFor, uploadFile, type FreshSandboxOptions } from './sandbox';
import { person } from '../fixtures/roster/generate';
import { AdminDirectory } from '../../server/lib/admins';
import { typedDb } from '../../server/lib/cloud-db';
import type { CloudStorage } from '../../server/lib/storage';
import { Throttle } from '../../server/lib/throttle';
import { RosterService } from '../../server/functions/roster/service';

export const ADMIN = 'o_roster_admin';

/** The suite's shared sandbox (set by `useSuiteSandbox` before the suite's tests run). */
export let sandbox: Sandbox;
let uploads = 0;

/** A sandbox of the test's own (its quota, clock, timeouts or faults change), with the same admin. */
export const ownSandbox = (options: FreshSandboxOptions = {}) =>
  freshSandbox({ ...options, functionEnv: { ROSTER_ADMIN_OPENIDS: ADMIN, ...options.functionEnv } });

/**
 * Starts the suite's shared sandbox before its tests; after them checks that every upload (plain
 * PII, compressed so a byte scan cannot see it) is gone once its import ended, stops it, and checks
 * that no plaintext ID number (or its first 14 digits) of people 0–59 is anywhere in its data.
 */
export function useSuiteSandbox(): void {
  beforeAll(async () => {
    sandbox = await ownSandbox();
  });

  afterAll(async () => {
    expect(sandbox.storage.list().filter((f) => f.startsWith('roster-uploads/'))).toEqual([]);
    const text = persistedText(sandbox);
    await sandbox.stop();
    for (let i = 0; i < 60; i += 1) {
      expect(text).not.toContain(person(i).idCard);
      expect(text).not.toContain(person(i).idCard.slice(0, 14));
    }
  });
}

/** A `roster` call through the gateway as `openid`: the whole HTTP answer (status and body). */
export const gateway = (event: Record<string, unknown>, openid = ADMIN, target = sandbox) =>
  post(target, '/gateway/functions/roster', event, { 'X-WX-OPENID': openid });

export const roster = (event: Record<string, unknown>, openid = ADMIN, target = sandbox) =>
  gateway(event, openid, target).then((r) => r.body);

/** Puts `content` at `cloudPath` in `target`'s storage, as the page's upload does; answers its fileID. */
export const putUpload = (target: Sandbox, cloudPath: string, content: Buffer): Promise<string> =>
  uploadFile(target, ADMIN, cloudPath, content);

/** Uploads `content` to the suite sandbox's roster-uploads/ under a name of its own; answers its fileID. */
export async function upload(content: Buffer, name: string): Promise<string> {
  uploads += 1;
  return putUpload(sandbox, `roster-uploads/${uploads}-${name}`, content);
}

/** Import and drive the job to the end, as the page and the CLI do. */
export async function importFile(content: Buffer, name: string, extra: Record<string, unknown> = {}) {
  const fileID = await upload(content, name);
  const started = await roster({ action: 'import', fileID, ...extra });
  if (!started.ok) return { started, fileID };
  let status = await roster({ action: 'status', jobId: started.jobId });
  for (let i = 0; i < 50 && status.state === 'running'; i += 1)
    status = await roster({ action: 'run', jobId: started.jobId });
  return { started, status, fileID };
}

/** The people of `cleanRoster(n)`, as `person(i)` makes them. */
export const cleanRosterPeople = (n: number) => Array.from({ length: n }, (_, i) => person(i));

/** The _id of every document in the suite sandbox's roster. */
export const rosterIds = () => new Set(sandbox.db.dump('roster').map((d) => d._id));

/**
 * The roster service as the function builds it, through the real SDK against `target` as `admin`,
 * with its time limits chosen by the test (`prepareDeadline` 0 pauses a prepare after its first
 * batch; `abortAt` is when the invocation would be cut off). Its log lines go to `log`.
 */
export function serviceThroughSdk(
  target: Sandbox,
  admin: string,
  limits: { sliceDeadline: number; prepareDeadline: number; abortAt: number | undefined },
  log: (message: string, fields?: Record<string, unknown>) => void,
): RosterService {
  const sdk = sdkFor(target, admin);
  const db = typedDb(sdk.database());
  return new RosterService({
    db,
    storage: sdk as unknown as CloudStorage,
    keys: piiKeysOf(target),
    throttle: new Throttle(30),
    admins: new AdminDirectory(db, { admins: [admin], reviewers: [] }),
    ...limits,
    maxFileBytes: 128 * 1024 * 1024,
    logger: { info: log, error: log },
  });
}
