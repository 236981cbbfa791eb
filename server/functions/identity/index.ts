/** `identity`: what the caller may do about their identity: the methods this deployment offers. */
import { createRouter } from '../../core/router';
import { AdminDirectory } from '../../lib/admins';
import { typedDb } from '../../lib/cloud-db';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadSettings, methodsOf } from '../../lib/settings';

const logger = createLogger('identity');
const settings = loadSettings('identity').report(logger);
const db = typedDb(cloud.database());

const route = createRouter(
  'identity',
  {
    methods: async (_request, { caller }) => {
      const group = settings.group('admins');
      const admins = new AdminDirectory(db, { admins: group.ROSTER_ADMIN_OPENIDS, reviewers: group.REVIEWER_OPENIDS });
      return { methods: [...methodsOf(settings.group('methods'))], reviewer: await admins.isReviewer(caller.openid) };
    },
  },
  { logger, guards: {}, appid: () => settings.group('app').WECHAT_APPID },
);

export const main = (event: unknown, context?: unknown) => {
  deployedTimeLimit('identity', logger, context);
  return route(event, { caller: callerContext() });
};
