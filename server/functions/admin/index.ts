/**
 * `admin`: thin adapter: person lookup, coverage, audit trail, masked export, key rotation (admin
 * only, audited); the retention timer.
 */
import type { AdminRotateKeysRequest } from '../../../miniprogram/shared/contracts';
import { createRouter, isTimerEvent, type CallerContext } from '../../core/router';
import { sliceDeadline } from '../../core/roster/slice';
import { Refusal } from '../../core/errors';
import { AdminDirectory } from '../../lib/admins';
import { AuditLog, auditTrail } from '../../lib/audit';
import { bestEffort, FileCleanup } from '../../lib/cleanup';
import { typedDb } from '../../lib/cloud-db';
import { IdentityStore } from '../../lib/identity';
import { KeyRotation } from '../../lib/key-rotation';
import { OperatorGate } from '../../lib/operator';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadSettings, piiKeysOf } from '../../lib/settings';
import type { CloudStorage } from '../../lib/storage';
import { AdminService, purgeRetention } from './service';

const logger = createLogger('admin');
const settings = loadSettings('admin').report(logger);
const db = typedDb(cloud.database());
const keys = () => piiKeysOf(settings.group('pii'));
const storage = cloud as unknown as CloudStorage;

let service: AdminService | undefined;
function adminService(): AdminService {
  service ??= new AdminService({
    db,
    keys: keys(),
    identities: new IdentityStore(db, keys()),
    storage,
    files: new FileCleanup(db, storage, logger, keys()),
    logger,
    exportRetentionMinutes: settings.group('retention').EXPORT_RETENTION_MINUTES,
  });
  return service;
}

/** How long one rotateKeys call works at most (less when the deployed timeout is shorter). */
const ROTATION_SLICE_MS = 20_000;
/** A timer event of this name (no user: the console, or a trigger added for the rotation) runs a slice. */
const ROTATION_TRIGGER = 'rotate-keys';

type Context = { caller: CallerContext; startedAt: number; timeLimitMs?: number };

/** One slice of the key rotation, whichever way it was asked for (an admin's call or the user-less event). */
function rotationSlice(startedAt: number, timeLimitMs: number | undefined, options: AdminRotateKeysRequest = {}) {
  return new KeyRotation(db, keys()).run({
    deadline: sliceDeadline(startedAt, ROTATION_SLICE_MS, timeLimitMs),
    ...options,
  });
}

const route = createRouter<'admin', Context>(
  'admin',
  {
    lookup: (request, _context, note) => adminService().lookup(request.idCardNumber, note),
    coverage: (_request, _context, note) => adminService().coverage(note),
    audit: (request, _context, note) => adminService().audit(request, note),
    export: (_request, { caller }, note) =>
      adminService().export(new IdentityStore(db, keys()).openidHash(caller.openid), note),
    rotateKeys: async (request, { startedAt, timeLimitMs }, note) => {
      const status = await rotationSlice(startedAt, timeLimitMs, request);
      note.count = status.rekeyed + status.removed;
      return status;
    },
    rotationStatus: () => new KeyRotation(db, keys()).status(),
  },
  {
    logger,
    guards: {
      admin: async ({ caller }) => {
        const group = settings.group('admins');
        const admins = new AdminDirectory(db, {
          admins: group.ROSTER_ADMIN_OPENIDS,
          reviewers: group.REVIEWER_OPENIDS,
        });
        if (!(await admins.isAdmin(caller.openid))) throw new Refusal('FORBIDDEN', '仅管理员可以查看');
      },
    },
    // A PC with the Tencent Cloud API key and OPERATOR_KEY (npm run rotate-keys -- --cloud): rotateKeys
    // and rotationStatus only (contracts.ts OPERATOR_ACTIONS).
    operator: (proof, action, payload, env) =>
      new OperatorGate(db, keys(), settings.group('operator').OPERATOR_KEY).admit(
        { env, fn: 'admin', action },
        proof,
        payload,
      ),
    appid: () => settings.group('app').WECHAT_APPID,
    // Every call, refused ones too; an answer whose entry cannot be written is not given.
    audit: auditTrail(
      'admin',
      db,
      keys,
      {
        lookup: { kind: 'admin' },
        coverage: { kind: 'admin' },
        audit: { kind: 'admin' },
        export: { kind: 'admin' },
        rotateKeys: { kind: 'admin' },
        rotationStatus: { kind: 'admin' },
      },
      { required: true },
    ),
  },
);

export const main = async (event: unknown, context?: unknown) => {
  const startedAt = Date.now();
  const timeLimitMs = deployedTimeLimit('admin', logger, context);
  const caller = callerContext();
  if (isTimerEvent(event, caller) && event.TriggerName === ROTATION_TRIGGER) {
    // The cloud's way in (no gateway there): a console test invocation or a temporary timer trigger of
    // this name, both without a user (docs/security-privacy.md → 密钥轮换). One slice per invocation, audited.
    const status = await rotationSlice(startedAt, timeLimitMs);
    await new AuditLog(db).record({
      kind: 'admin',
      action: 'admin.rotateKeys',
      outcome: 'ok',
      actorHash: '',
      count: status.rekeyed + status.removed,
    });
    logger.info('key rotation', { state: status.state, rekeyed: status.rekeyed, removed: status.removed });
    return { ok: true, ...status };
  }
  if (isTimerEvent(event, caller)) {
    const retained = await purgeRetention(db, settings.group('retention'));
    // Due deletions need the PII keys (file IDs are stored encrypted): without them the purge above
    // still runs, and the failure is logged.
    const files = { deleted: 0, pending: 0 };
    await bestEffort(logger, 'retrying due file deletions', async () => {
      Object.assign(files, await new FileCleanup(db, storage, logger, keys()).retry());
    });
    const purged = { ...retained, files: files.deleted, filesPending: files.pending };
    await new AuditLog(db).record({
      kind: 'retention',
      action: 'admin.purge',
      outcome: 'ok',
      actorHash: '',
      count: purged.audit + purged.sessions + purged.files,
    });
    logger.info('retention purge', purged);
    return { ok: true, ...purged };
  }
  return route(event, { caller, startedAt, ...(timeLimitMs === undefined ? {} : { timeLimitMs }) });
};
