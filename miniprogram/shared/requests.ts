/**
 * Checked requests: one checker per action, turning the raw event (anything a client sent) into its
 * typed, normalised request or the error code that says what is wrong. The router applies them
 * before any handler runs, so services only ever see requests of their contract type. Built on the
 * shared validators, so a form on the client and the function on the server judge alike.
 *
 * Fields the contract does not name are ignored (an older or newer client may send more).
 */
import { isCityCheckCode } from './citycheck';
import {
  AUDIT_KINDS,
  ROSTER_UPLOAD_PREFIX,
  type ActionName,
  type AuditKind,
  type FaceConfirmRequest,
  type FunctionName,
  type OperatorProof,
  type RequestOf,
  VERIFICATION_METHODS,
  type VerificationMethod,
} from './contracts';
import { noticeVersion } from './consent';
import {
  checkDocument,
  checkDocumentName,
  isReviewDocType,
  MAX_DOC_NUMBER,
  MAX_REVIEW_REASON,
  normalizeDocNumber,
} from './documents';
import type { ErrorCode } from './errors';
import { checkIdCard } from './idcard';
import { checkName } from './person';

export type Checked<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message?: string };
export type Checker<T> = (raw: Readonly<Record<string, unknown>>) => Checked<T>;

const accept = <T>(value: T): Checked<T> => ({ ok: true, value });
const refuse = <T>(code: ErrorCode, message?: string): Checked<T> =>
  message === undefined ? { ok: false, code } : { ok: false, code, message };
const empty = (): Checked<Record<string, never>> => accept({});

/** Credentials WeChat hands the client (verify_id, verify_result...): opaque, bounded strings. */
export function isCredential(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 8 && value.length <= 512 && /^[\w\-+/=.~]+$/.test(value);
}

/** A roster job id: 24 lower-case hex characters (anything else cannot name a job). */
export function isJobId(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{24}$/.test(value);
}

/** The path of a `cloud://<env>.<bucket>/<path>` file ID, or '' when it is not one. */
export function cloudPathOf(fileID: string): string {
  const match = /^cloud:\/\/[^/]+\/(.+)$/.exec(fileID);
  return match ? (match[1] ?? '') : '';
}

/** A file ID under `ROSTER_UPLOAD_PREFIX`, without any `..` segment. */
export function isRosterUpload(fileID: unknown): fileID is string {
  if (typeof fileID !== 'string' || fileID.length > 1024) return false;
  const path = cloudPathOf(fileID);
  return path.indexOf(ROSTER_UPLOAD_PREFIX) === 0 && path.indexOf('..') < 0;
}

export function isVerificationMethod(value: unknown): value is VerificationMethod {
  return typeof value === 'string' && (VERIFICATION_METHODS as readonly string[]).indexOf(value) >= 0;
}

/** Longest period one audit query covers (days). */
export const MAX_AUDIT_DAYS = 366;
const DAY_MS = 86_400_000;

/**
 * An audit query's period: ISO 8601 instants, `to` defaulting to `now` and `from` to 30 days before
 * `to`; `from` before `to`, at most MAX_AUDIT_DAYS apart. Undefined when it is not one.
 */
export function auditRange(from: unknown, to: unknown, now: Date): { from: string; to: string } | undefined {
  const parse = (value: unknown, fallback: number): number | undefined => {
    if (value === undefined || value === '') return fallback;
    if (typeof value !== 'string' || value.length > 40) return undefined;
    const time = Date.parse(value);
    // Also within the years a Date can print (toISOString throws past ±8.64e15 ms).
    return Number.isNaN(time) || Math.abs(time) > 8.64e15 - MAX_AUDIT_DAYS * DAY_MS ? undefined : time;
  };
  const end = parse(to, now.getTime());
  if (end === undefined) return undefined;
  const start = parse(from, end - 30 * DAY_MS);
  if (start === undefined || start >= end || end - start > MAX_AUDIT_DAYS * DAY_MS) return undefined;
  return { from: new Date(start).toISOString(), to: new Date(end).toISOString() };
}

/** An optional field: absent or '' (a cleared form field) is undefined. */
const optional = (value: unknown): unknown => (value === undefined || value === '' ? undefined : value);

export function isAuditKind(value: unknown): value is AuditKind {
  return typeof value === 'string' && (AUDIT_KINDS as readonly string[]).indexOf(value) >= 0;
}

/** An audit page cursor: `<epoch ms>.<entry id>` (what `next` answered). */
export function isAuditCursor(value: unknown): value is string {
  return typeof value === 'string' && /^\d{1,16}\.[0-9a-f]{32}$/.test(value);
}

/** A review request id: 32 lower-case hex characters. */
export function isRequestId(value: unknown): value is string {
  return typeof value === 'string' && /^[0-9a-f]{32}$/.test(value);
}

/** An operator label: letters, digits, `.`, `_`, `-` and `@`, 1-64 characters. */
export const OPERATOR_ID_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

/**
 * The `operator` field of an event (contracts.ts `OperatorProof`), exactly that shape: four strings
 * of bounded form, nothing else. Whether it is signed right is the server's check, not this one.
 */
export function checkOperatorProof(value: unknown): Checked<OperatorProof> {
  const bad = refuse<OperatorProof>('INVALID_REQUEST', 'operator 字段格式不正确');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return bad;
  const o = value as Record<string, unknown>;
  if (Object.keys(o).sort().join(',') !== 'id,nonce,sig,ts') return bad;
  const { id, ts, nonce, sig } = o;
  if (typeof id !== 'string' || !OPERATOR_ID_PATTERN.test(id)) return bad;
  if (typeof ts !== 'string' || !/^[1-9]\d{0,15}$/.test(ts)) return bad;
  if (typeof nonce !== 'string' || !/^[0-9a-f]{32}$/.test(nonce)) return bad;
  if (typeof sig !== 'string' || !/^[0-9a-f]{64}$/.test(sig)) return bad;
  return accept({ id, ts, nonce, sig });
}

const jobRequest: Checker<{ jobId: string }> = (raw) =>
  isJobId(raw.jobId) ? accept({ jobId: raw.jobId }) : refuse('ROSTER_JOB_NOT_FOUND');

/**
 * Consent to `method`'s notice (miniprogram/shared/consent.ts): `consent: true`, and the version of
 * the text the page showed (a page showing another text is refused, never recorded as agreeing to
 * this one).
 */
function consentProblem(
  method: VerificationMethod,
  raw: Readonly<Record<string, unknown>>,
): Checked<never> | undefined {
  if (raw.consent !== true) return refuse('CONSENT_REQUIRED');
  // Required: a client that does not say which text it showed is not recorded as agreeing to this one.
  if (raw.noticeVersion !== noticeVersion(method)) return refuse('CONSENT_OUTDATED');
  return undefined;
}

/** Consent given to `method`'s notice, and a name and mainland ID number that pass the shared validators (normalised). */
const typedIdentity =
  (method: VerificationMethod): Checker<{ name: string; idCardNumber: string; consent: true; noticeVersion: string }> =>
  (raw) => {
    const problem = consentProblem(method, raw);
    if (problem) return problem;
    const name = checkName(typeof raw.name === 'string' ? raw.name : '');
    if (!name.ok) return refuse(name.code);
    const id = checkIdCard(typeof raw.idCardNumber === 'string' ? raw.idCardNumber : '');
    if (!id.ok) return refuse(id.code);
    return accept({ name: name.value, idCardNumber: id.value, consent: true, noticeVersion: noticeVersion(method) });
  };

type Checkers = { readonly [F in FunctionName]: { readonly [A in ActionName<F>]: Checker<RequestOf<F, A>> } };

export const REQUESTS: Checkers = {
  ping: { ping: empty },
  face: {
    start: typedIdentity('face'),
    confirm: (raw) => {
      if (isCredential(raw.verifyId)) return accept<FaceConfirmRequest>({ verifyId: raw.verifyId });
      if (isCredential(raw.verifyResult)) return accept<FaceConfirmRequest>({ verifyResult: raw.verifyResult });
      return refuse('INVALID_REQUEST');
    },
    status: empty,
  },
  realname: {
    categories: empty,
    fetch: (raw) => {
      const token = raw.authToken;
      if (typeof token !== 'string' || token.length < 8 || token.length > 1024) return refuse('INVALID_REQUEST');
      // The WeChat dialog the user confirmed is the consent to the notice the page showed (its version).
      if (raw.noticeVersion !== noticeVersion('wxpay')) return refuse('CONSENT_OUTDATED');
      return accept({ authToken: token, noticeVersion: noticeVersion('wxpay') });
    },
    check: (raw) => {
      const identity = typedIdentity('wxcheck')(raw);
      if (!identity.ok) return identity;
      if (!isCityCheckCode(raw.code)) return refuse('REALNAME_CHECK_CODE_INVALID');
      return accept({ ...identity.value, code: raw.code });
    },
  },
  review: {
    submit: (raw) => {
      const problem = consentProblem('manual', raw);
      if (problem) return problem;
      if (!isReviewDocType(raw.docType)) return refuse('DOC_TYPE_INVALID');
      const name = checkDocumentName(typeof raw.name === 'string' ? raw.name : '');
      if (!name.ok) return refuse(name.code);
      const number = checkDocument(raw.docType, typeof raw.docNumber === 'string' ? raw.docNumber : '');
      if (!number.ok) return refuse(number.code);
      return accept({
        name: name.value,
        docType: raw.docType,
        docNumber: number.value,
        consent: true,
        noticeVersion: noticeVersion('manual'),
      });
    },
    mine: empty,
    queue: empty,
    decide: (raw) => {
      if (!isRequestId(raw.requestId)) return refuse('REVIEW_NOT_FOUND');
      if (typeof raw.approve !== 'boolean') return refuse('INVALID_REQUEST');
      if (raw.approve) {
        const docNumber = typeof raw.docNumber === 'string' ? normalizeDocNumber(raw.docNumber) : '';
        if (docNumber === '' || docNumber.length > MAX_DOC_NUMBER) return refuse('REVIEW_NUMBER_REQUIRED');
        return accept({ requestId: raw.requestId, approve: true, docNumber });
      }
      const reason = typeof raw.reason === 'string' ? raw.reason.trim() : '';
      if (reason === '' || Array.from(reason).length > MAX_REVIEW_REASON) return refuse('REVIEW_REASON_REQUIRED');
      return accept({ requestId: raw.requestId, approve: false, reason });
    },
  },
  identity: {
    methods: empty,
    mine: empty,
    withdraw: (raw) => {
      if (raw.method === undefined) return accept({});
      return isVerificationMethod(raw.method) ? accept({ method: raw.method }) : refuse('INVALID_REQUEST');
    },
  },
  admin: {
    lookup: (raw) => {
      const id = checkIdCard(typeof raw.idCardNumber === 'string' ? raw.idCardNumber : '');
      return id.ok ? accept({ idCardNumber: id.value }) : refuse(id.code);
    },
    coverage: empty,
    audit: (raw) => {
      const range = auditRange(raw.from, raw.to, new Date());
      if (!range) return refuse('AUDIT_RANGE_INVALID');
      const kind = optional(raw.kind);
      if (kind !== undefined && !isAuditKind(kind)) return refuse('INVALID_REQUEST', '未知的记录类型');
      const after = optional(raw.after);
      if (after !== undefined && !isAuditCursor(after)) return refuse('INVALID_REQUEST', '翻页参数无效，请重新查询');
      const filters = { ...range, ...(kind ? { kind } : {}), ...(after ? { after } : {}) };
      if (raw.idCardNumber === undefined || raw.idCardNumber === '') return accept(filters);
      const id = checkIdCard(typeof raw.idCardNumber === 'string' ? raw.idCardNumber : '');
      return id.ok ? accept({ ...filters, idCardNumber: id.value }) : refuse(id.code);
    },
    export: empty,
    rotateKeys: (raw) => {
      const { limit, dropUnrekeyable } = raw;
      if (limit !== undefined && !(Number.isInteger(limit) && (limit as number) >= 1 && (limit as number) <= 10_000)) {
        return refuse('INVALID_REQUEST', 'limit 应为 1–10000 的整数');
      }
      if (dropUnrekeyable !== undefined && typeof dropUnrekeyable !== 'boolean') return refuse('INVALID_REQUEST');
      return accept({
        ...(limit === undefined ? {} : { limit: limit as number }),
        ...(dropUnrekeyable ? { dropUnrekeyable: true } : {}),
      });
    },
    rotationStatus: empty,
  },
  profile: {
    get: empty,
  },
  roster: {
    access: empty,
    reserveUpload: (raw) => {
      const fileName = typeof raw.fileName === 'string' ? raw.fileName.trim() : '';
      if (fileName === '' || fileName.length > 255) return refuse('INVALID_REQUEST', '请给出文件名（1–255 个字符）');
      return accept({ fileName });
    },
    // Only the file is checked here: the upload holds plain PII and only the function can delete it,
    // so a request naming a real upload always reaches the service (a bad sheet name is answered
    // ROSTER_SHEET_NOT_FOUND there, and the upload deleted); `dryRun` and `acceptConflicts` are
    // true or false, `mode` is 'replace' only when asked for exactly (anything else merges).
    import: (raw) => {
      if (!isRosterUpload(raw.fileID)) return refuse('INVALID_REQUEST', '请先上传 roster-uploads/ 下的表格文件');
      const sheet = typeof raw.sheet === 'string' && raw.sheet !== '' ? raw.sheet : undefined;
      return accept({
        fileID: raw.fileID,
        dryRun: raw.dryRun === true,
        mode: raw.mode === 'replace' ? 'replace' : 'merge',
        acceptConflicts: raw.acceptConflicts === true,
        ...(sheet === undefined ? {} : { sheet }),
      });
    },
    run: jobRequest,
    status: jobRequest,
    template: empty,
    report: jobRequest,
  },
};

/** The checker of `action` of function `name`. */
export function checkerOf<F extends FunctionName, A extends ActionName<F>>(
  name: F,
  action: A,
): Checker<RequestOf<F, A>> {
  return (REQUESTS[name] as { readonly [K in ActionName<F>]: Checker<RequestOf<F, K>> })[action];
}
