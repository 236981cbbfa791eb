/** `realname`: thin adapter: SDK, caller and configuration in; RealnameService does the work. */
import { loadPiiKeys } from '../../core/pii';
import { loadMerchantConfig } from '../../core/realname-crypto';
import { createRouter } from '../../core/router';
import { typedDb } from '../../lib/cloud-db';
import { requireConfig, reportMissingConfig } from '../../lib/config';
import { IdentityStore } from '../../lib/identity';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadWechatConfig, WechatClient } from '../../lib/wechat';
import { RealnameService } from './service';

const logger = createLogger('realname');
const db = typedDb(cloud.database());
reportMissingConfig(logger, { wechat: loadWechatConfig, pii: loadPiiKeys, merchant: loadMerchantConfig });

let service: RealnameService | undefined;
function realnameService(): RealnameService {
  if (!service) {
    service = new RealnameService({
      db,
      wechat: new WechatClient(requireConfig(loadWechatConfig), db),
      identities: new IdentityStore(db, requireConfig(loadPiiKeys)),
      // Loaded on use: `categories` works before the merchant is configured.
      merchant: () => requireConfig(loadMerchantConfig),
      logger,
    });
  }
  return service;
}

const route = createRouter(
  'realname',
  {
    categories: () => realnameService().categories(),
    fetch: (request, { caller }) => realnameService().fetch(caller.openid, request),
  },
  logger,
);

export const main = (event: unknown, context?: unknown) => {
  deployedTimeLimit('realname', logger, context);
  return route(event, { caller: callerContext() });
};
