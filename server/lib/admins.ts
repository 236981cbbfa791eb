/**
 * Who is an admin, and who reviews staff verifications. An admin is named in ROSTER_ADMIN_OPENIDS
 * or by a document the server side wrote in `admins` (`_id` = openid: the console, a script, a
 * function; none sets `_openid`). A document a client added, which the platform's default rules
 * allow, grants nothing. Reviewers are REVIEWER_OPENIDS when it is set, else the admins.
 */
import { COLLECTION } from '../manifest';
import { serverWritten, type CloudDb } from './cloud-db';

export interface AdminSettings {
  /** ROSTER_ADMIN_OPENIDS. */
  admins: readonly string[];
  /** REVIEWER_OPENIDS (empty: the admins review). */
  reviewers: readonly string[];
}

export class AdminDirectory {
  constructor(
    private readonly db: CloudDb,
    private readonly settings: AdminSettings,
  ) {}

  async isAdmin(openid: string): Promise<boolean> {
    if (this.settings.admins.includes(openid)) return true;
    const res = await this.db
      .collection(COLLECTION.admins)
      .where(serverWritten(this.db, { _id: openid }))
      .limit(1)
      .get();
    return res.data.length > 0;
  }

  async isReviewer(openid: string): Promise<boolean> {
    if (this.settings.reviewers.length > 0) return this.settings.reviewers.includes(openid);
    return this.isAdmin(openid);
  }
}
