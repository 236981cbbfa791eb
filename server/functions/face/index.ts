/** `face`: thin adapter: SDK, caller and configuration in; FaceService does the work. */
import { faceApiVersion, sessionTtlSeconds } from '../../core/face-flow';
import { loadPiiKeys } from '../../core/pii';
import { createRouter, isTimerEvent } from '../../core/router';
import { typedDb } from '../../lib/cloud-db';
import { requireConfig, reportMissingConfig } from '../../lib/config';
import { IdentityStore } from '../../lib/identity';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadWechatConfig, WechatClient } from '../../lib/wechat';
import { FaceService, isFacePush } from './service';

const logger = createLogger('face');
const db = typedDb(cloud.database());
reportMissingConfig(logger, { wechat: loadWechatConfig, pii: loadPiiKeys, face: faceApiVersion });

let service: FaceService | undefined;
function faceService(): FaceService {
  if (!service) {
    const keys = requireConfig(loadPiiKeys);
    service = new FaceService({
      db,
      wechat: new WechatClient(requireConfig(loadWechatConfig), db),
      identities: new IdentityStore(db, keys),
      keys,
      mode: requireConfig(faceApiVersion),
      ttlSeconds: sessionTtlSeconds(),
      logger,
    });
  }
  return service;
}

const route = createRouter(
  'face',
  {
    start: (request, { caller }) => faceService().start(caller.openid, request),
    confirm: (request, { caller }) => faceService().confirm(caller.openid, request),
    status: (_request, { caller }) => faceService().status(caller.openid),
  },
  logger,
);

export const main = async (event: unknown, context?: unknown) => {
  deployedTimeLimit('face', logger, context);
  const caller = callerContext();
  if (isTimerEvent(event, caller)) return faceService().sweep();
  if (isFacePush(event)) {
    // A client calling with a made-up push for someone else: ignored (only WeChat's own push, or the
    // user's own, gets re-checked with getinfo).
    if (caller.openid && caller.openid !== event.openid) return 'success';
    try {
      return await faceService().push(event);
    } catch (err) {
      logger.error('face push failed', { error: (err as Error).name });
      return 'success';
    }
  }
  return route(event, { caller });
};
