/**
 * The single source of truth for every cloud API: function names, actions, request and response
 * types. The client services layer and the cloud functions both import this file, so renaming an
 * action or changing a field breaks the build on both sides instead of in production.
 *
 * Every call sends the event `{ action, ...request }` and answers `{ ok: true, ...response }` or a
 * `Failure` (`{ ok: false, code, message }`, codes in ./errors).
 */
import type { DocType, ReviewDocType } from './documents';
import type { Result } from './errors';

// ---------------------------------------------------------------- shared shapes

/**
 * How a person was verified: face verification (人脸核身), WeChat Pay real-name authorization
 * (the closed button), the city-service real-name check (城市服务实名信息校验), staff review of a
 * document (人工核验).
 */
export type VerificationMethod = 'face' | 'wxpay' | 'wxcheck' | 'manual';
export const VERIFICATION_METHODS: readonly VerificationMethod[] = ['face', 'wxpay', 'wxcheck', 'manual'];
export type FaceApiVersion = 'v1' | 'v2';

/** What a client may see of a verified identity: masked values only. */
export interface Binding {
  method: VerificationMethod;
  /** The document verified: `id_card` for every WeChat method, the reviewed one for `manual`. */
  docType: DocType;
  maskedName: string;
  /** The document's number, masked (an ID number: first 4 and last 4). */
  maskedIdCard: string;
  /** ISO 8601. */
  verifiedAt: string;
  /** The verified ID number is in the imported roster (only ever true for an `id_card`). */
  inRoster: boolean;
}

// ---------------------------------------------------------------- ping

export interface PingResponse {
  openid: string;
  appid: string;
  env: string;
  /** Server time, ISO 8601. */
  now: string;
}

// ---------------------------------------------------------------- face

export interface FaceStartRequest {
  name: string;
  idCardNumber: string;
  /** The user ticked the consent box; anything but `true` is refused. */
  consent: boolean;
  /** The version of the notice the page showed (shared/consent.ts): refused unless it is the current one. */
  noticeVersion: string;
}
export type FaceStartResponse =
  { mode: 'v2'; verifyId: string; expiresIn: number } | { mode: 'v1'; userIdKey: string; expiresIn: number };

export type FaceConfirmRequest = { verifyId: string } | { verifyResult: string };
export interface BindingResponse {
  binding: Binding;
}
export interface FaceStatusResponse {
  /** The face API generation the server runs. */
  mode: FaceApiVersion;
  /** Every verified identity of the caller (at most one per method). */
  bindings: Binding[];
}

// ---------------------------------------------------------------- real-name (WeChat Pay)

export interface RealnameCategory {
  firstClass: string;
  secondClass: string;
  thirdClass?: string;
  firstId: number;
  secondId: number;
  thirdId?: number;
}
export interface RealnameCategoriesResponse {
  categories: RealnameCategory[];
}
export interface RealnameFetchRequest {
  authToken: string;
  /** The version of the notice the page showed (shared/consent.ts): refused unless it is the current one. */
  noticeVersion: string;
}
/** The city-service check: the identity the user typed, and the code WeChat's consent page returned. */
export interface RealnameCheckRequest {
  name: string;
  idCardNumber: string;
  code: string;
  /** Anything but `true` is refused. */
  consent: boolean;
  /** The version of the notice the page showed (shared/consent.ts): refused unless it is the current one. */
  noticeVersion: string;
}

// ---------------------------------------------------------------- review (staff verification)

/**
 * pending → approving (a reviewer approved; the binding is being written) → approved, or
 * pending → rejected. An approval interrupted after its claim stays `approving` and is shown in the
 * queue until a reviewer approves it again (the binding is idempotent).
 */
export type ReviewState = 'pending' | 'approving' | 'approved' | 'rejected';

export interface ReviewSubmitRequest {
  name: string;
  docType: ReviewDocType;
  docNumber: string;
  consent: boolean;
  /** The version of the notice the page showed (shared/consent.ts): refused unless it is the current one. */
  noticeVersion: string;
}
export interface ReviewSubmitResponse {
  requestId: string;
}
/** A request as its holder and the reviewers see it: masked. */
export interface ReviewRequestView {
  requestId: string;
  docType: ReviewDocType;
  maskedName: string;
  maskedNumber: string;
  state: ReviewState;
  /** Why it was rejected, as the reviewer wrote it for the holder. */
  reason?: string;
  /** ISO 8601. */
  submittedAt: string;
  decidedAt?: string;
  /** In the queue: the reviewer asking submitted it (they may not decide it). */
  own?: boolean;
}
export interface ReviewListResponse {
  requests: ReviewRequestView[];
}
export interface ReviewDecideRequest {
  requestId: string;
  approve: boolean;
  /**
   * Required to approve: the number as the reviewer reads it off the original document. The server
   * approves only when it matches the number submitted (the queue shows it masked), so an approval
   * always means someone compared the whole number.
   */
  docNumber?: string;
  /** Required to reject: the holder reads it. */
  reason?: string;
}
export interface ReviewDecideResponse {
  request: ReviewRequestView;
}

// ---------------------------------------------------------------- identity

export interface IdentityMethodsResponse {
  /** The methods this deployment offers, in the order to show them (IDENTITY_METHODS). */
  methods: VerificationMethod[];
  /** The caller may review staff-verification requests. */
  reviewer: boolean;
}

/** A consent record as its holder sees it. */
export interface ConsentView {
  method: VerificationMethod;
  purpose: string;
  /** The version (hash) of the notice text agreed to (miniprogram/shared/consent.ts). */
  version: string;
  /** ISO 8601. */
  at: string;
}
export interface IdentityMineResponse {
  /** The caller's verified identities, masked, one per method. */
  bindings: Binding[];
  /** What the caller agreed to, newest first. */
  consents: ConsentView[];
}
export interface IdentityWithdrawRequest {
  /** The method to withdraw; every method when absent. */
  method?: VerificationMethod;
}
export interface IdentityWithdrawResponse {
  /** The methods withdrawn. */
  methods: VerificationMethod[];
  /** What was deleted. */
  removed: { bindings: number; sessions: number; reviewRequests: number; consents: number };
}

// ---------------------------------------------------------------- admin

export const AUDIT_KINDS = ['verify', 'review', 'admin', 'withdraw', 'retention'] as const;
export type AuditKind = (typeof AUDIT_KINDS)[number];

/** An audit entry as an admin reads it: keyed hashes shortened to 12 characters, never a name or number. */
export interface AuditEntryView {
  at: string;
  kind: AuditKind;
  /** `<function>.<action>`. */
  action: string;
  method?: VerificationMethod;
  /** 'ok' or the error code answered. */
  outcome: string;
  /** Who acted (openid hash prefix; '' for timers). */
  actor: string;
  /** Whom it was about (ID blind index prefixes, comma-separated: a withdrawal may name several), when anyone. */
  subject?: string;
  count?: number;
  /** The call was an operator's (a PC with the server SDK and OPERATOR_KEY, not the mini-program). */
  operator?: true;
}
export interface AdminLookupRequest {
  idCardNumber: string;
}
export interface AdminLookupResponse {
  /** Masked, one per (account, method) verified with this ID number. */
  bindings: Binding[];
  inRoster: boolean;
}
export interface AdminCoverageResponse {
  /** People in the roster. */
  rosterTotal: number;
  /** Roster people verified by at least one method. */
  verified: number;
  /** Roster people verified, by method (a person verified twice counts under both). */
  byMethod: Record<VerificationMethod, number>;
  /** Bindings of ID numbers the roster does not hold. */
  outsideRoster: number;
}
export interface AdminRotateKeysRequest {
  /** Documents this call re-keys at most (default: as many as its time allows). */
  limit?: number;
  /** Delete what cannot be re-keyed (documents written before openids were stored, never used since). */
  dropUnrekeyable?: boolean;
}
/** Where a key rotation stands (docs/security-privacy.md → 密钥轮换). */
export interface AdminRotationStatus {
  /** `idle`: never run for these keys; `running`: more to do; `blocked`: a pass found only what it cannot do now; `done`. */
  state: 'idle' | 'running' | 'blocked' | 'done';
  /** The keys everything is being moved to: `<PII_ENC_KEY_ID>.<PII_INDEX_KEY_ID>`. */
  target: string;
  /** The collection the next call continues with. */
  collection?: string;
  /** Documents rewritten, and deleted (see docs/security-privacy.md → 密钥轮换), by this rotation so far. */
  rekeyed: number;
  removed: number;
  /** Documents left under old keys in the last pass: holders unknown, credentials not yet expired, tampered. */
  unrekeyable: number;
  waiting: number;
  unreadable: number;
  /** When the last spent credential under an old key expires (ISO 8601), while `waiting`. */
  waitUntil?: string;
  /** What to do next, for the admin. */
  next: string;
}
export interface AdminAuditRequest {
  /** ISO 8601; default 30 days before `to`. */
  from?: string;
  /** ISO 8601; default now. */
  to?: string;
  /** Entries about this person only (turned into its blind index; never stored). */
  idCardNumber?: string;
  /** Entries of this kind only. */
  kind?: AuditKind;
  /** The `next` of the previous page: the entries older than its last one. */
  after?: string;
}
export interface AdminAuditResponse {
  entries: AuditEntryView[];
  /** More entries match: pass it as `after` for the next (older) page. */
  next?: string;
  /** Same as `next !== undefined` (kept for pages written before the cursor). */
  truncated: boolean;
}
export interface AdminExportResponse {
  fileID: string;
  tempFileURL: string;
}

// ---------------------------------------------------------------- profile (an example of a team's own function)

export interface ProfileResponse {
  /** The caller's verified identity the function relies on, masked. */
  binding: Binding;
}

// ---------------------------------------------------------------- roster

export type RosterJobState = 'running' | 'done' | 'failed';

export interface RosterRowError {
  /** The spreadsheet's own row number (1-based, as Excel shows it). */
  row: number;
  /** The column header as written in the file (or its letter when there is none). */
  column: string;
  code: string;
  message: string;
}

export interface RosterImportRequest {
  /** Cloud storage file ID of the uploaded .xlsx / .xls / .csv. */
  fileID: string;
  /** Validate and count only; write nothing. */
  dryRun?: boolean;
  /** Sheet name; default: the first sheet with recognisable headers. */
  sheet?: string;
  /**
   * 'merge' (default): columns absent from the file and empty cells keep what is stored.
   * 'replace': an empty cell in a column the file has clears the stored value.
   */
  mode?: RosterImportMode;
  /** Apply rows whose ID is stored under another name (default: reported as ROW_CONFLICT, not applied). */
  acceptConflicts?: boolean;
}
export type RosterImportMode = 'merge' | 'replace';
export interface RosterImportResponse {
  jobId: string;
}
export interface RosterJobRequest {
  jobId: string;
}
export interface RosterJobStatus {
  jobId: string;
  state: RosterJobState;
  dryRun: boolean;
  mode: RosterImportMode;
  acceptConflicts: boolean;
  sheet: string;
  total: number;
  processed: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Rows whose ID is already stored under another name: reported (ROW_CONFLICT), not applied. */
  conflicts: number;
  /** Rows with errors (not imported). */
  failed: number;
  /** The first 100 row errors. */
  errors: RosterRowError[];
  /** Error report .xlsx in cloud storage, when there were errors. */
  reportFileID?: string;
  /** Job-level failure (file unreadable, no header...). */
  failure?: { code: string; message: string };
}
export interface RosterAccessResponse {
  admin: boolean;
}
export interface RosterFileResponse {
  fileID: string;
  tempFileURL: string;
}
export interface RosterReserveRequest {
  /** The chosen file's name: kept (made safe) in the path, its extension tells CSV from Excel. */
  fileName: string;
}
export interface RosterReserveResponse {
  /** Where to upload the file (`roster-uploads/…`, with a random part the server chose). */
  cloudPath: string;
  /** When (ms since the epoch) the server deletes the upload unless an import has done so first. */
  deleteBy: number;
}

// ---------------------------------------------------------------- the map

type Empty = Record<string, never>;

/** `[request, response]` per action, per function. */
export interface CloudApi {
  ping: {
    ping: [Empty, PingResponse];
  };
  face: {
    start: [FaceStartRequest, FaceStartResponse];
    confirm: [FaceConfirmRequest, BindingResponse];
    status: [Empty, FaceStatusResponse];
  };
  realname: {
    categories: [Empty, RealnameCategoriesResponse];
    fetch: [RealnameFetchRequest, BindingResponse];
    check: [RealnameCheckRequest, BindingResponse];
  };
  review: {
    submit: [ReviewSubmitRequest, ReviewSubmitResponse];
    mine: [Empty, ReviewListResponse];
    queue: [Empty, ReviewListResponse];
    decide: [ReviewDecideRequest, ReviewDecideResponse];
  };
  identity: {
    methods: [Empty, IdentityMethodsResponse];
    mine: [Empty, IdentityMineResponse];
    withdraw: [IdentityWithdrawRequest, IdentityWithdrawResponse];
  };
  admin: {
    lookup: [AdminLookupRequest, AdminLookupResponse];
    coverage: [Empty, AdminCoverageResponse];
    audit: [AdminAuditRequest, AdminAuditResponse];
    export: [Empty, AdminExportResponse];
    rotateKeys: [AdminRotateKeysRequest, AdminRotationStatus];
    rotationStatus: [Empty, AdminRotationStatus];
  };
  profile: {
    get: [Empty, ProfileResponse];
  };
  roster: {
    access: [Empty, RosterAccessResponse];
    /** Before uploading: where to put the file, and its deletion scheduled in case no import takes it. */
    reserveUpload: [RosterReserveRequest, RosterReserveResponse];
    import: [RosterImportRequest, RosterImportResponse];
    /** Process the next slice of a running job (client-driven continuation). */
    run: [RosterJobRequest, RosterJobStatus];
    status: [RosterJobRequest, RosterJobStatus];
    template: [Empty, RosterFileResponse];
    report: [RosterJobRequest, RosterFileResponse];
  };
}

export type FunctionName = keyof CloudApi;
export type ActionName<F extends FunctionName> = keyof CloudApi[F] & string;
type Entry<F extends FunctionName, A extends ActionName<F>> = CloudApi[F][A] extends [infer Q, infer R]
  ? [Q, R]
  : never;
export type RequestOf<F extends FunctionName, A extends ActionName<F>> = Entry<F, A>[0];
/** What a handler returns (the router adds `ok: true`). */
export type BodyOf<F extends FunctionName, A extends ActionName<F>> = Entry<F, A>[1];
export type SuccessOf<F extends FunctionName, A extends ActionName<F>> = { ok: true } & BodyOf<F, A>;
export type ResponseOf<F extends FunctionName, A extends ActionName<F>> = Result<BodyOf<F, A>>;
/** The event a function receives. */
export type EventOf<F extends FunctionName, A extends ActionName<F>> = { action: A } & RequestOf<F, A>;

/** Runtime list of actions (routers and the sandbox gateway use it); checked against `CloudApi`. */
export const ACTIONS: { readonly [F in FunctionName]: readonly ActionName<F>[] } = {
  ping: ['ping'],
  face: ['start', 'confirm', 'status'],
  realname: ['categories', 'fetch', 'check'],
  review: ['submit', 'mine', 'queue', 'decide'],
  identity: ['methods', 'mine', 'withdraw'],
  admin: ['lookup', 'coverage', 'audit', 'export', 'rotateKeys', 'rotationStatus'],
  profile: ['get'],
  roster: ['access', 'reserveUpload', 'import', 'run', 'status', 'template', 'report'],
};

export const FUNCTION_NAMES = Object.keys(ACTIONS) as FunctionName[];

/**
 * Who may call each action, besides being an identified caller (an OPENID from the platform):
 * `user` is anyone, `admin` a roster admin, `reviewer` a staff verifier (REVIEWER_OPENIDS, else the
 * roster admins). The router applies it before the request is checked.
 */
export const ACCESS = {
  ping: { ping: 'user' },
  face: { start: 'user', confirm: 'user', status: 'user' },
  realname: { categories: 'user', fetch: 'user', check: 'user' },
  review: { submit: 'user', mine: 'user', queue: 'reviewer', decide: 'reviewer' },
  identity: { methods: 'user', mine: 'user', withdraw: 'user' },
  admin: {
    lookup: 'admin',
    coverage: 'admin',
    audit: 'admin',
    export: 'admin',
    rotateKeys: 'admin',
    rotationStatus: 'admin',
  },
  profile: { get: 'user' },
  roster: {
    access: 'user',
    reserveUpload: 'admin',
    import: 'admin',
    run: 'admin',
    status: 'admin',
    template: 'admin',
    report: 'admin',
  },
} as const satisfies { readonly [F in FunctionName]: { readonly [A in ActionName<F>]: Access } };

/**
 * The actions an operator may call from a PC with the server SDK (no OPENID: the call carries a
 * signed `operator` proof instead, see server/core/operator.ts and docs/security-privacy.md → 操作员调用).
 * Each acts as an admin. No other action accepts an `operator` field.
 */
export const OPERATOR_ACTIONS: { readonly [F in FunctionName]?: readonly ActionName<F>[] } = {
  roster: ['reserveUpload', 'import', 'run', 'status', 'template', 'report'],
  admin: ['rotateKeys', 'rotationStatus'],
};

/**
 * The `operator` field of an operator call: who (a label, e.g. the OS user name), when (ms since the
 * epoch, as decimal text), a one-use nonce (16 random bytes, hex) and the HMAC-SHA256 (hex) under
 * OPERATOR_KEY of the environment id, function, action, these three and the SHA-256 of the canonical
 * checked request (server/core/operator.ts `operatorMessage`).
 */
export interface OperatorProof {
  id: string;
  ts: string;
  nonce: string;
  sig: string;
}

/** `user`: anyone identified; `admin`: a roster admin; `reviewer`: may decide staff-verification requests. */
export type Access = 'user' | 'admin' | 'reviewer';
/** The access levels other than `user` that function `F` needs a guard for. */
export type GuardedAccess<F extends FunctionName> = Exclude<
  Extract<(typeof ACCESS)[F][keyof (typeof ACCESS)[F]], Access>,
  'user'
>;

/** Where roster uploads go: the `roster` function reads and deletes nothing else. */
export const ROSTER_UPLOAD_PREFIX = 'roster-uploads/';
/** The spreadsheet types a roster may be (the file picker offers these; the path keeps the extension). */
export const ROSTER_EXTENSIONS: readonly string[] = ['xlsx', 'xls', 'csv'];
