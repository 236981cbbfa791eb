/**
 * Every database collection the starter uses, with its indexes and its security rule. The cloud
 * setup script and the sandbox (at start) create them from this list. No collection is readable
 * or writable by clients: everything goes through cloud functions (rule `{ read: false, write: false }`).
 */
export interface CollectionSpec {
  name: string;
  description: string;
  /** Holds names or ID numbers (encrypted); never exported, never logged. */
  pii: boolean;
  indexes: { name: string; keys: Record<string, 1 | -1>; unique: boolean }[];
}

export const CLIENT_RULE = { read: false, write: false } as const;

/**
 * The same rule as the platform's permission tag a deploy applies to every collection: ADMINONLY
 * (仅管理端可读写: clients neither read nor write; functions, through the server SDK, do everything).
 */
export const COLLECTION_PERMISSION = 'ADMINONLY' as const;

/**
 * Cloud storage: PRIVATE (仅创建者及管理员可读写). The mini-program uploads roster files (its own),
 * reads none back (reports and the template come as short-lived links the function signs), and no
 * user can read another's upload.
 */
export const STORAGE_PERMISSION = 'PRIVATE' as const;

/** The collection names, for the code that uses them (the specs below describe the same set). */
export const COLLECTION = {
  bindings: 'bindings',
  faceSessions: 'face_sessions',
  usedTokens: 'used_tokens',
  accessTokens: 'wx_access_tokens',
  admins: 'admins',
  roster: 'roster',
  rosterJobs: 'roster_jobs',
  pendingCleanup: 'pending_cleanup',
  rateLimits: 'rate_limits',
  reviewRequests: 'review_requests',
  consents: 'consents',
  auditLog: 'audit_log',
  keyRotation: 'key_rotation',
} as const;

export const COLLECTIONS: CollectionSpec[] = [
  {
    name: 'key_rotation',
    description:
      "A key rotation's progress (one status document: target keys, collection, cursor, counts) and, while it runs, old→new keyed hashes learned from live data; deleted when it is done.",
    pii: false,
    indexes: [],
  },
  {
    name: 'consents',
    description:
      'What each person agreed to before a method collected anything: method, purpose, notice version, time.',
    pii: false,
    indexes: [{ name: 'owner', keys: { openidHash: 1, at: -1 }, unique: false }],
  },
  {
    name: 'audit_log',
    description:
      'Append-only trail: verification attempts, admin and reviewer actions, withdrawals (keyed hashes only, never a name or number).',
    pii: false,
    indexes: [
      { name: 'time', keys: { t: -1 }, unique: false },
      { name: 'subject', keys: { subjectIndex: 1, t: -1 }, unique: false },
    ],
  },
  {
    name: 'bindings',
    description: 'Verified identities: one document per (openid, method); _id = method + openid hash.',
    pii: true,
    indexes: [
      { name: 'openid', keys: { openidHash: 1 }, unique: false },
      { name: 'id_index', keys: { idIndex: 1 }, unique: false },
    ],
  },
  {
    name: 'face_sessions',
    description: 'Pending face verifications bound to the caller, single use, with expiry.',
    pii: true,
    indexes: [
      { name: 'verify_key', keys: { verifyKey: 1 }, unique: true },
      { name: 'expires', keys: { expiresAt: 1 }, unique: false },
    ],
  },
  {
    name: 'used_tokens',
    description: 'Keyed hashes of consumed one-time credentials (real-name auth tokens), swept a day later.',
    pii: false,
    indexes: [{ name: 'expires', keys: { expiresAt: 1 }, unique: false }],
  },
  {
    name: 'wx_access_tokens',
    description: 'The shared access_token cache of all function instances.',
    pii: false,
    indexes: [],
  },
  {
    name: 'admins',
    description: 'Openids allowed to import rosters (_id = openid).',
    pii: false,
    indexes: [],
  },
  {
    name: 'roster',
    description: 'Imported people: _id = blind index of the ID number; fields encrypted.',
    pii: true,
    indexes: [{ name: 'updated', keys: { updatedAt: -1 }, unique: false }],
  },
  {
    name: 'roster_jobs',
    description: 'Import jobs: progress saved per batch, so a retried slice resumes.',
    pii: false,
    indexes: [{ name: 'file_hash', keys: { fileHash: 1 }, unique: false }],
  },
  {
    name: 'pending_cleanup',
    description: 'Deletions that failed (uploads holding PII): the roster sweep retries them until they succeed.',
    pii: false,
    indexes: [{ name: 'last_failed', keys: { lastFailedAt: 1 }, unique: false }],
  },
  {
    name: 'review_requests',
    description: 'Staff verification requests: name and document number encrypted, keyed indexes, state, reason.',
    pii: true,
    indexes: [
      { name: 'owner', keys: { openidHash: 1, submittedAt: -1 }, unique: false },
      { name: 'state', keys: { state: 1, submittedAt: 1 }, unique: false },
      // One pending request per person: the holder's openid hash while pending, `decided_<random>` after.
      { name: 'pending_owner', keys: { pendingKey: 1 }, unique: true },
    ],
  },
  {
    name: 'rate_limits',
    description: 'Attempts per caller or ID number and window (keyed hashes only): bounds what junk calls can cost.',
    pii: false,
    indexes: [
      { name: 'expires', keys: { expiresAt: 1 }, unique: false },
      { name: 'key_window', keys: { keyHash: 1, windowStart: 1 }, unique: false },
    ],
  },
];
