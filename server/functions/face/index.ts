/** `face`: thin adapter: SDK, caller and settings in; FaceService does the work. */
import { createRouter, isTimerEvent } from '../../core/router';
import { auditTrail } from '../../lib/audit';
import { typedDb } from '../../lib/cloud-db';
import { ConsentStore } from '../../lib/consents';
import { IdentityStore } from '../../lib/identity';
import { callerContext, cloud, createLogger, deployedTimeLimit } from '../../lib/runtime';
import { loadSettings, methodsOf, piiKeysOf, wechatConfig } from '../../lib/settings';
import { RateLimiter, sweepExpiredRecords } from '../../lib/rate-limit';
import { WechatClient } from '../../lib/wechat';
import { FaceService, isFacePush, sweepExpiredSessions } from './service';

const logger = createLogger('face');
const settings = loadSettings('face').report(logger);
const db = typedDb(cloud.database());

let service: FaceService | undefined;
function faceService(): FaceService {
  if (!service) {
    const keys = piiKeysOf(settings.group('pii'));
    const face = settings.group('face');
    service = new FaceService({
      db,
      limiter: new RateLimiter(db, keys),
      wechat: new WechatClient(wechatConfig(settings.group('app'), settings.group('wechat')), db, keys),
      identities: new IdentityStore(db, keys),
      consents: new ConsentStore(db, keys),
      keys,
      mode: face.FACE_API_VERSION,
      ttlSeconds: face.FACE_SESSION_TTL_SECONDS,
      methods: () => methodsOf(settings.group('methods')),
      logger,
    });
  }
  return service;
}

const route = createRouter(
  'face',
  {
    start: (request, { caller }, note) => faceService().start(caller.openid, request, note),
    confirm: (request, { caller }, note) => faceService().confirm(caller.openid, request, note),
    status: (_request, { caller }) => faceService().status(caller.openid),
  },
  {
    logger,
    guards: {},
    appid: () => settings.group('app').WECHAT_APPID,
    audit: auditTrail('face', db, () => piiKeysOf(settings.group('pii')), {
      start: { kind: 'verify', method: 'face' },
      confirm: { kind: 'verify', method: 'face' },
    }),
  },
);

export const main = async (event: unknown, context?: unknown) => {
  deployedTimeLimit('face', logger, context);
  const caller = callerContext();
  // The sweep needs no settings: expired sessions lose their PII even when configuration is incomplete.
  if (isTimerEvent(event, caller)) {
    const [sessions, records] = await Promise.all([sweepExpiredSessions(db), sweepExpiredRecords(db)]);
    return { ...sessions, ...records };
  }
  if (isFacePush(event)) {
    // A client calling with a made-up push for someone else: ignored (only WeChat's own push, or the
    // user's own, gets re-checked with getinfo).
    if (caller.openid && caller.openid !== event.openid) return 'success';
    try {
      // Nor is one from another mini-program sharing the environment.
      if (caller.appid && caller.appid !== settings.group('app').WECHAT_APPID) return 'success';
      return await faceService().push(event);
    } catch (err) {
      logger.error('face push failed', { error: (err as Error).name });
      return 'success';
    }
  }
  return route(event, { caller });
};
