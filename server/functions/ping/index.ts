/** `ping`: proves the pipeline end to end: answers the caller's OPENID from getWXContext. */
import { createRouter } from '../../core/router';
import { callerContext, createLogger, deployedTimeLimit } from '../../lib/runtime';

const logger = createLogger('ping');

const route = createRouter(
  'ping',
  {
    ping: async (_request, { caller }) => ({
      openid: caller.openid,
      appid: caller.appid,
      env: caller.env,
      now: new Date().toISOString(),
    }),
  },
  { logger, guards: {} },
);

export const main = (event: unknown, context?: unknown) => {
  deployedTimeLimit('ping', logger, context);
  return route(event, { caller: callerContext() });
};
