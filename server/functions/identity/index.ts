/** `identity`: the caller's identity: the methods offered, their bindings and consents, withdrawal. */
import { createRouter } from '../../core/router';
import { AdminDirectory } from '../../lib/admins';
import { auditTrail } from '../../lib/audit';
import { typedDb } from '../../lib/cloud-db';
import { ConsentStore } from '../../lib/consents';
import { IdentityStore } from '../../lib/identity';
import { RateLimiter } from '../../lib/rate-limit';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadSettings, methodsOf, piiKeysOf } from '../../lib/settings';
import { IdentityService } from './service';

const logger = createLogger('identity');
const settings = loadSettings('identity').report(logger);
const db = typedDb(cloud.database());
const keys = () => piiKeysOf(settings.group('pii'));

let service: IdentityService | undefined;
function identityService(): IdentityService {
  service ??= new IdentityService({
    db,
    identities: new IdentityStore(db, keys()),
    consents: new ConsentStore(db, keys()),
    limiter: new RateLimiter(db, keys()),
  });
  return service;
}

const route = createRouter(
  'identity',
  {
    methods: async (_request, { caller }) => {
      const group = settings.group('admins');
      const admins = new AdminDirectory(db, { admins: group.ROSTER_ADMIN_OPENIDS, reviewers: group.REVIEWER_OPENIDS });
      return { methods: [...methodsOf(settings.group('methods'))], reviewer: await admins.isReviewer(caller.openid) };
    },
    mine: (_request, { caller }) => identityService().mine(caller.openid),
    withdraw: (request, { caller }, note) => identityService().withdraw(caller.openid, request, note),
  },
  {
    logger,
    guards: {},
    appid: () => settings.group('app').WECHAT_APPID,
    audit: auditTrail('identity', db, keys, { withdraw: { kind: 'withdraw' } }),
  },
);

export const main = (event: unknown, context?: unknown) => {
  deployedTimeLimit('identity', logger, context);
  return route(event, { caller: callerContext() });
};
