/** `ping`: proves the pipeline end to end: answers the caller's OPENID from getWXContext. */
import { createRouter } from '../../core/router';
import { callerContext, createLogger } from '../../lib/runtime';

const route = createRouter(
  'ping',
  {
    ping: async (_request, { caller }) => ({
      ok: true,
      openid: caller.openid,
      appid: caller.appid,
      env: caller.env,
      now: new Date().toISOString(),
    }),
  },
  createLogger('ping'),
);

export const main = (event: unknown) => route(event, { caller: callerContext() });
