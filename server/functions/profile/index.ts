/**
 * `profile`: an example of a team's own function on top of the starter. Every action first requires
 * a verified caller (server/lib/verified.ts); copy this file to start a function of your own (add it
 * to the contracts, the request checkers and the manifest, like this one).
 */
import { createRouter } from '../../core/router';
import { typedDb } from '../../lib/cloud-db';
import { IdentityStore } from '../../lib/identity';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadSettings, piiKeysOf } from '../../lib/settings';
import { requireVerified } from '../../lib/verified';

const logger = createLogger('profile');
const settings = loadSettings('profile').report(logger);
const db = typedDb(cloud.database());

const route = createRouter(
  'profile',
  {
    get: async (_request, { caller }) => {
      const identities = new IdentityStore(db, piiKeysOf(settings.group('pii')));
      // Your business logic starts here, for a caller known to be a verified person.
      const binding = await requireVerified(identities, caller.openid);
      return { binding };
    },
  },
  { logger, guards: {}, appid: () => settings.group('app').WECHAT_APPID },
);

export const main = (event: unknown, context?: unknown) => {
  deployedTimeLimit('profile', logger, context);
  return route(event, { caller: callerContext() });
};
