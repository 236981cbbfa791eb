/**
 * What an organisation's admins see: one person's verification (by ID number typed in), the roster's
 * coverage by method, the audit trail, and a masked export of coverage. Every value shown is masked;
 * every call is audited by the router (and refused when its entry cannot be written). Also the
 * retention timer.
 */
import {
  VERIFICATION_METHODS,
  type AdminAuditRequest,
  type BodyOf,
  type VerificationMethod,
} from '../../../miniprogram/shared/contracts';
import { maskIdCard, maskName } from '../../../miniprogram/shared/mask';
import { decryptField, type PiiKeys } from '../../core/pii';
import type { AuditNote, Logger } from '../../core/router';
import { buildWorkbook } from '../../core/xlsx';
import { AuditLog } from '../../lib/audit';
import { ADMIN_EXPORT_PREFIX, type FileCleanup } from '../../lib/cleanup';
import { serverWritten, type CloudDb } from '../../lib/cloud-db';
import type { IdentityStore } from '../../lib/identity';
import { rosterAad, type RosterPii } from '../../lib/roster-record';
import { temporaryUrl, type CloudStorage } from '../../lib/storage';
import { COLLECTION } from '../../manifest';

/** Documents read per request while scanning a collection (the server SDK's maximum). */
const PAGE = 1000;
const DAY_MS = 86_400_000;

export interface AdminDeps {
  db: CloudDb;
  keys: PiiKeys;
  identities: IdentityStore;
  storage: CloudStorage;
  files: FileCleanup;
  logger: Logger;
  /** How long an export stays in storage (EXPORT_RETENTION_MINUTES). */
  exportRetentionMinutes: number;
}

export interface RetentionSettings {
  AUDIT_RETENTION_DAYS: number;
  FACE_SESSION_RETENTION_DAYS: number;
}

/** Every server-written document of `collection`, `fields` only, in `_id` order, a page per request. */
export async function* scan<T extends { _id: string }>(
  db: CloudDb,
  collection: string,
  fields: Record<string, boolean>,
): AsyncGenerator<T[]> {
  const _ = db.command;
  let after = '';
  for (;;) {
    const res = await db
      .collection<T>(collection)
      .where(serverWritten(db, after ? { _id: _.gt(after) } : {}))
      .orderBy('_id', 'asc')
      .field({ _id: true, ...fields })
      .limit(PAGE)
      .get();
    if (res.data.length === 0) return;
    yield res.data;
    after = res.data[res.data.length - 1]!._id;
    if (res.data.length < PAGE) return;
  }
}

interface BindingRow {
  _id: string;
  method: VerificationMethod;
  docType?: string;
  idIndex: string;
}

export class AdminService {
  constructor(private readonly deps: AdminDeps) {}

  async lookup(idCardNumber: string, note: AuditNote): Promise<BodyOf<'admin', 'lookup'>> {
    const { db, identities } = this.deps;
    const indexes = identities.idIndexes(idCardNumber, 'id_card');
    note.subject = indexes[0];
    const bindings = await identities.listByIdCard(idCardNumber);
    const roster = await db
      .collection(COLLECTION.roster)
      .where(serverWritten(db, { _id: db.command.in(indexes) }))
      .field({ _id: true })
      .get();
    return { bindings, inRoster: roster.data.length > 0 };
  }

  /** Which ID blind indexes are verified by which methods (ID cards only: only they meet the roster). */
  private async verifiedIndexes(): Promise<Map<string, Set<VerificationMethod>>> {
    const verified = new Map<string, Set<VerificationMethod>>();
    for await (const page of scan<BindingRow>(this.deps.db, COLLECTION.bindings, {
      method: true,
      docType: true,
      idIndex: true,
    })) {
      for (const b of page) {
        if ((b.docType ?? 'id_card') !== 'id_card') continue;
        const methods = verified.get(b.idIndex) ?? new Set<VerificationMethod>();
        methods.add(b.method);
        verified.set(b.idIndex, methods);
      }
    }
    return verified;
  }

  async coverage(note: AuditNote): Promise<BodyOf<'admin', 'coverage'>> {
    const verified = await this.verifiedIndexes();
    const byMethod = Object.fromEntries(VERIFICATION_METHODS.map((m) => [m, 0])) as Record<VerificationMethod, number>;
    let rosterTotal = 0;
    let covered = 0;
    const inRoster = new Set<string>();
    for await (const page of scan<{ _id: string }>(this.deps.db, COLLECTION.roster, {})) {
      for (const person of page) {
        rosterTotal += 1;
        const methods = verified.get(person._id);
        if (!methods) continue;
        inRoster.add(person._id);
        covered += 1;
        for (const m of methods) byMethod[m] += 1;
      }
    }
    note.count = rosterTotal;
    return { rosterTotal, verified: covered, byMethod, outsideRoster: verified.size - inRoster.size };
  }

  /** `request`'s period was checked and completed by the router (defaults: the last 30 days). */
  async audit(request: AdminAuditRequest, note: AuditNote): Promise<BodyOf<'admin', 'audit'>> {
    // Under every index key configured: during a key rotation some entries may not be re-keyed yet.
    const subjectIndex = request.idCardNumber ? this.deps.identities.idIndexes(request.idCardNumber) : undefined;
    if (subjectIndex) note.subject = subjectIndex[0];
    const page = await new AuditLog(this.deps.db).query({
      ...(request.from ? { from: new Date(request.from) } : {}),
      ...(request.to ? { to: new Date(request.to) } : {}),
      ...(subjectIndex ? { subjectIndex } : {}),
      ...(request.kind ? { kind: request.kind } : {}),
      ...(request.after ? { after: request.after } : {}),
    });
    note.count = page.entries.length;
    return { ...page, truncated: page.next !== undefined };
  }

  /** 姓名 / 身份证号 (masked) / 已认证 / 认证方式, one row per roster person; a file only admins can fetch. */
  async export(adminHash: string, note: AuditNote): Promise<BodyOf<'admin', 'export'>> {
    const { db, keys, storage, files } = this.deps;
    const verified = await this.verifiedIndexes();
    const rows: (string | number)[][] = [['姓名', '身份证号', '已认证', '认证方式']];
    for await (const page of scan<{ _id: string; piiEnc: string }>(db, COLLECTION.roster, { piiEnc: true })) {
      for (const person of page) {
        const pii = JSON.parse(decryptField(keys, person.piiEnc, rosterAad(person._id))) as RosterPii;
        const methods = [...(verified.get(person._id) ?? [])];
        rows.push([maskName(pii.name), maskIdCard(pii.idCard), methods.length ? '是' : '否', methods.join(',')]);
      }
    }
    note.count = rows.length - 1;
    const content = buildWorkbook([
      { name: '认证覆盖', data: rows, options: { '!cols': [{ wch: 10 }, { wch: 22 }, { wch: 8 }, { wch: 24 }] } },
    ]);
    // One file per admin, replaced by each export: masked values only, private storage, deleted by
    // the sweep EXPORT_RETENTION_MINUTES later (scheduled before anyone can fetch it).
    const { fileID } = await storage.uploadFile({
      cloudPath: `${ADMIN_EXPORT_PREFIX}coverage-${adminHash.slice(0, 16)}.xlsx`,
      fileContent: content,
    });
    try {
      await files.schedule(fileID, 'admin export', new Date(Date.now() + this.deps.exportRetentionMinutes * 60_000));
    } catch (err) {
      await files.delete(fileID, 'admin export not scheduled for deletion');
      throw err;
    }
    return { fileID, tempFileURL: await temporaryUrl(storage, fileID) };
  }
}

/**
 * The retention timer: audit entries older than AUDIT_RETENTION_DAYS, and face sessions that ended
 * (or expired) more than FACE_SESSION_RETENTION_DAYS ago; their names and numbers were already
 * removed when they ended. Spent tokens and counters go a day after use (the realname/face sweeps);
 * due file deletions (exports past EXPORT_RETENTION_MINUTES, failed deletions) go with the
 * FileCleanup sweep this timer and the roster's hourly one both run.
 */
export async function purgeRetention(
  db: CloudDb,
  retention: RetentionSettings,
  now: Date = new Date(),
): Promise<{ audit: number; sessions: number }> {
  const _ = db.command;
  const audit = await new AuditLog(db).purge(new Date(now.getTime() - retention.AUDIT_RETENTION_DAYS * DAY_MS));
  const sessionCutoff = new Date(now.getTime() - retention.FACE_SESSION_RETENTION_DAYS * DAY_MS);
  const sessions = (
    await db
      .collection(COLLECTION.faceSessions)
      .where({ expiresAt: _.lt(sessionCutoff), nameEnc: _.exists(false) })
      .remove()
  ).stats.removed;
  return { audit, sessions };
}
