/** `roster`: thin adapter: SDK, caller and settings in; RosterService does the work. */
import { createRouter, isTimerEvent, type CallerContext } from '../../core/router';
import { abortDeadline, prepareDeadline, sliceDeadline } from '../../core/roster/slice';
import { auditTrail } from '../../lib/audit';
import { typedDb } from '../../lib/cloud-db';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { AdminDirectory } from '../../lib/admins';
import { loadSettings, piiKeysOf } from '../../lib/settings';
import { Refusal } from '../../core/errors';
import { FileCleanup } from '../../lib/cleanup';
import type { CloudStorage } from '../../lib/storage';
import { OperatorGate } from '../../lib/operator';
import { Throttle } from '../../lib/throttle';
import { sweepRoster } from './job-closer';
import { RosterService } from './service';

const logger = createLogger('roster');
const settings = loadSettings('roster').report(logger);
const db = typedDb(cloud.database());
const storage = cloud as unknown as CloudStorage;

function adminDirectory(): AdminDirectory {
  const admins = settings.group('admins');
  return new AdminDirectory(db, { admins: admins.ROSTER_ADMIN_OPENIDS, reviewers: admins.REVIEWER_OPENIDS });
}

/** One service per invocation: its throttle counts this invocation's calls, its deadline is this slice's. */
function service(startedAt: number, timeLimitMs?: number): RosterService {
  const roster = settings.group('roster');
  return new RosterService({
    db,
    storage,
    keys: piiKeysOf(settings.group('pii')),
    // The plan's ~30 QPS with headroom for other functions' traffic.
    throttle: new Throttle(roster.ROSTER_DB_QPS),
    admins: adminDirectory(),
    sliceDeadline: sliceDeadline(startedAt, roster.ROSTER_SLICE_SECONDS * 1000, timeLimitMs),
    abortAt: abortDeadline(startedAt, timeLimitMs),
    prepareDeadline: prepareDeadline(startedAt, roster.ROSTER_SLICE_SECONDS * 1000, timeLimitMs),
    ...(timeLimitMs === undefined ? {} : { timeLimitMs }),
    maxFileBytes: roster.ROSTER_MAX_FILE_MB * 1024 * 1024,
    logger,
  });
}

type Context = { caller: CallerContext; service: () => RosterService };

const route = createRouter<'roster', Context>(
  'roster',
  {
    access: (_request, { caller, service }) => service().access(caller.openid),
    reserveUpload: (request, { service }) => service().reserveUpload(request),
    import: async (request, { caller, service }) => {
      // The writer finds people under the current index key only: during a key rotation a person
      // still stored under an old one would look new, and the rotation's move would then drop what
      // the file did not hold. Imports wait until the old index keys are removed; the upload (plain
      // PII) goes at once, as with every refused import.
      const keys = piiKeysOf(settings.group('pii'));
      const files = new FileCleanup(db, storage, logger, keys);
      if (keys.oldIndexKeys.size > 0) {
        await files.delete(request.fileID, 'import refused during a key rotation');
        throw new Refusal('ROTATION_BUSY', '密钥轮换尚未完成：请在轮换完成并移除旧索引密钥后再导入名单');
      }
      // Only a place reserveUpload named (and scheduled for deletion) is read: nothing else under the
      // upload prefix is this function's to import. Such a file goes (nobody else would delete it).
      if (!(await files.isReservedUpload(request.fileID))) {
        await files.delete(request.fileID, 'import refused: upload not reserved');
        throw new Refusal('ROSTER_UPLOAD_NOT_RESERVED');
      }
      return service().import(caller.openid, request);
    },
    run: (request, { service }) => {
      // A job that was running when new keys were deployed cannot go on (the same reason imports
      // wait): it ends now, its upload and chunks deleted; the rows it wrote stay.
      if (piiKeysOf(settings.group('pii')).oldIndexKeys.size > 0) {
        return service().stop(request, 'ROTATION_BUSY', (job) =>
          job.dryRun
            ? '密钥轮换开始后预检已停止（未写入任何数据，上传已删除）：请在轮换完成并移除旧索引密钥后重新预检该文件'
            : '密钥轮换开始后导入已停止（已写入的行保留，上传与中间数据已删除）：请在轮换完成并移除旧索引密钥后重新导入该文件',
        );
      }
      return service().run(request);
    },
    status: (request, { service }) => service().status(request),
    template: (_request, { service }) => service().template(),
    report: (request, { service }) => service().report(request),
  },
  {
    logger,
    guards: { admin: ({ caller, service }) => service().requireAdmin(caller.openid) },
    // A PC with the Tencent Cloud API key and OPERATOR_KEY (npm run roster -- import --cloud).
    operator: (proof, action, payload, env) =>
      new OperatorGate(db, piiKeysOf(settings.group('pii')), settings.group('operator').OPERATOR_KEY).admit(
        { env, fn: 'roster', action },
        proof,
        payload,
      ),
    appid: () => settings.group('app').WECHAT_APPID,
    // Who imported what, when (and who fetched a report): admin actions are on the audit trail.
    audit: auditTrail(
      'roster',
      db,
      () => piiKeysOf(settings.group('pii')),
      {
        reserveUpload: { kind: 'admin' },
        import: { kind: 'admin' },
        run: { kind: 'admin' },
        status: { kind: 'admin' },
        template: { kind: 'admin' },
        report: { kind: 'admin' },
      },
      { required: true },
    ),
  },
);

export const main = async (event: unknown, context?: unknown) => {
  const startedAt = Date.now();
  const timeLimitMs = deployedTimeLimit('roster', logger, context);
  const caller = callerContext();
  // The sweep needs only the PII keys: abandoned uploads go even when the roster settings are broken.
  if (isTimerEvent(event, caller)) {
    return sweepRoster({ db, storage, logger, keys: piiKeysOf(settings.group('pii')) });
  }
  let instance: RosterService | undefined;
  return route(event, { caller, service: () => (instance ??= service(startedAt, timeLimitMs)) });
};
