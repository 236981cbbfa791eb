/** `review`: thin adapter: SDK, caller and settings in; ReviewService does the work. */
import { Refusal } from '../../core/errors';
import { createRouter, type CallerContext } from '../../core/router';
import { AdminDirectory } from '../../lib/admins';
import { auditTrail } from '../../lib/audit';
import { typedDb } from '../../lib/cloud-db';
import { ConsentStore } from '../../lib/consents';
import { IdentityStore } from '../../lib/identity';
import { RateLimiter } from '../../lib/rate-limit';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadSettings, methodsOf, piiKeysOf } from '../../lib/settings';
import { ReviewService } from './service';

const logger = createLogger('review');
const settings = loadSettings('review').report(logger);
const db = typedDb(cloud.database());

let service: ReviewService | undefined;
function reviewService(): ReviewService {
  if (!service) {
    const keys = piiKeysOf(settings.group('pii'));
    service = new ReviewService({
      db,
      keys,
      limiter: new RateLimiter(db, keys),
      identities: new IdentityStore(db, keys),
      consents: new ConsentStore(db, keys),
      methods: () => methodsOf(settings.group('methods')),
      logger,
    });
  }
  return service;
}

function admins(): AdminDirectory {
  const group = settings.group('admins');
  return new AdminDirectory(db, { admins: group.ROSTER_ADMIN_OPENIDS, reviewers: group.REVIEWER_OPENIDS });
}

const route = createRouter<'review', { caller: CallerContext }>(
  'review',
  {
    submit: (request, { caller }, note) => reviewService().submit(caller.openid, request, note),
    mine: (_request, { caller }) => reviewService().mine(caller.openid),
    queue: (_request, { caller }) => reviewService().queue(caller.openid),
    decide: (request, { caller }, note) => reviewService().decide(caller.openid, request, note),
  },
  {
    logger,
    guards: {
      reviewer: async ({ caller }) => {
        if (!(await admins().isReviewer(caller.openid))) {
          throw new Refusal('FORBIDDEN', '仅审核人员可以查看和审核人工核验申请');
        }
      },
    },
    appid: () => settings.group('app').WECHAT_APPID,
    audit: auditTrail('review', db, () => piiKeysOf(settings.group('pii')), {
      submit: { kind: 'verify', method: 'manual' },
      // A reviewer sees other people's (masked) requests: looking is on the trail like deciding.
      queue: { kind: 'review', method: 'manual' },
      decide: { kind: 'review', method: 'manual' },
    }),
  },
);

export const main = (event: unknown, context?: unknown) => {
  deployedTimeLimit('review', logger, context);
  return route(event, { caller: callerContext() });
};
