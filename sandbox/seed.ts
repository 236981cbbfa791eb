/** Demo data for `npm start` (idempotent): the admin who may import rosters. */
import type { Sandbox } from '.';
import { DEMO_ADMIN_OPENID } from './demo';

export async function seedDemo(sandbox: Sandbox): Promise<string[]> {
  const done: string[] = [];
  if (sandbox.db.query('admins', { _id: DEMO_ADMIN_OPENID }).length === 0) {
    sandbox.db.insert('admins', [{ _id: DEMO_ADMIN_OPENID, note: 'demo admin (sandbox)', addedAt: new Date() }]);
    done.push(`admin ${DEMO_ADMIN_OPENID}`);
  }
  return done;
}
