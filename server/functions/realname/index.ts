/** `realname`: thin adapter: SDK, caller and settings in; RealnameService does the work. */
import { createRouter, isTimerEvent } from '../../core/router';
import { auditTrail } from '../../lib/audit';
import { typedDb } from '../../lib/cloud-db';
import { ConsentStore } from '../../lib/consents';
import { IdentityStore } from '../../lib/identity';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadSettings, merchantOf, methodsOf, piiKeysOf, wechatConfig } from '../../lib/settings';
import { RateLimiter, sweepExpiredRecords } from '../../lib/rate-limit';
import { OneTimeTokens } from '../../lib/tokens';
import { WechatClient } from '../../lib/wechat';
import { RealnameService } from './service';

const logger = createLogger('realname');
const settings = loadSettings('realname').report(logger);
const db = typedDb(cloud.database());

let service: RealnameService | undefined;
function realnameService(): RealnameService {
  if (!service) {
    const keys = piiKeysOf(settings.group('pii'));
    service = new RealnameService({
      tokens: new OneTimeTokens(db, keys),
      limiter: new RateLimiter(db, keys),
      wechat: new WechatClient(wechatConfig(settings.group('app'), settings.group('wechat')), db, keys),
      identities: new IdentityStore(db, keys),
      consents: new ConsentStore(db, keys),
      // Used on `fetch` only: `categories` works before the merchant is configured.
      merchant: () => merchantOf(settings.group('merchant')),
      methods: () => methodsOf(settings.group('methods')),
      logger,
    });
  }
  return service;
}

const route = createRouter(
  'realname',
  {
    categories: () => realnameService().categories(),
    fetch: (request, { caller }, note) => realnameService().fetch(caller.openid, request, note),
    check: (request, { caller }, note) => realnameService().check(caller.openid, request, note),
  },
  {
    logger,
    guards: {},
    appid: () => settings.group('app').WECHAT_APPID,
    audit: auditTrail('realname', db, () => piiKeysOf(settings.group('pii')), {
      fetch: { kind: 'verify', method: 'wxpay' },
      check: { kind: 'verify', method: 'wxcheck' },
    }),
  },
);

export const main = (event: unknown, context?: unknown) => {
  deployedTimeLimit('realname', logger, context);
  const caller = callerContext();
  // The timer: expired token reservations and rate counters go (needs no settings).
  if (isTimerEvent(event, caller)) return sweepExpiredRecords(db);
  return route(event, { caller });
};
