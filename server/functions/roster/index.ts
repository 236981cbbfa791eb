/** `roster`: thin adapter: SDK, caller and configuration in; RosterService does the work. */
import { loadPiiKeys } from '../../core/pii';
import { createRouter, isTimerEvent } from '../../core/router';
import { typedDb } from '../../lib/cloud-db';
import { requireConfig, reportMissingConfig } from '../../lib/config';
import { callerContext, cloud, createLogger } from '../../lib/runtime';
import { Throttle } from '../../lib/throttle';
import { RosterService, type CloudStorage } from './service';

const logger = createLogger('roster');
const db = typedDb(cloud.database());
reportMissingConfig(logger, { pii: loadPiiKeys });

function service(): RosterService {
  return new RosterService({
    db,
    storage: cloud as unknown as CloudStorage,
    keys: requireConfig(loadPiiKeys),
    // Per invocation: the plan's ~30 QPS with headroom for other functions' traffic.
    throttle: new Throttle(Number(process.env.ROSTER_DB_QPS ?? 25)),
    envAdmins: (process.env.ROSTER_ADMIN_OPENIDS ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    sliceBudgetMs: Number(process.env.ROSTER_SLICE_SECONDS ?? 40) * 1000,
    logger,
  });
}

const route = createRouter(
  'roster',
  {
    access: (_request, { caller }) => service().access(caller.openid),
    import: (request, { caller }) => service().import(caller.openid, request),
    run: (request, { caller }) => service().run(caller.openid, request),
    status: (request, { caller }) => service().statusOf(caller.openid, request),
    template: (_request, { caller }) => service().template(caller.openid),
    report: (request, { caller }) => service().report(caller.openid, request),
  },
  logger,
);

export const main = async (event: unknown) => {
  const caller = callerContext();
  if (isTimerEvent(event, caller)) return service().sweep();
  return route(event, { caller });
};
