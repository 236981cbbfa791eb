/**
 * `npm run setup`: the cloud database from server/manifest/collections.ts: every collection,
 * its indexes and its security rule (CLIENT_RULE).
 *
 * - Collections are created with the real wx-server-sdk (`db.createCollection`, which fails when a
 *   collection exists: counted as done, so setup can run again).
 *   https://developers.weixin.qq.com/miniprogram/dev/wxcloudservice/wxcloud/reference-sdk-api/database/Database.createCollection.md
 *   Outside a cloud function the SDK signs with a Tencent Cloud API key: TENCENTCLOUD_SECRETID /
 *   TENCENTCLOUD_SECRETKEY of the account owning the environment (CLOUD_ENV or the client's envId).
 *   https://docs.cloudbase.net/api-reference/server/node-sdk/initialization.html
 * - Indexes and security rules: neither miniprogram-ci (its `ci.cloud` uploads code and files only)
 *   nor wx-server-sdk can set them, so setup prints the console steps, generated from the manifest.
 *   (APIs that could automate them later: WeChat's `tcb/updateindex` with an access_token,
 *   https://developers.weixin.qq.com/minigame/dev/wxcloud/reference-http-api/database/updateIndex.md,
 *   and Tencent Cloud's ModifySafeRule, https://cloud.tencent.com/document/api/876/128959.)
 *
 * Options: --dry-run (the plan, no calls), --sandbox <url> (against a running `npm start` sandbox,
 * which creates the same collections at start: every one answers "already exists").
 */
import { ROOT, readProjectConfig } from './lib/ci-project';
import { parseArgs, readClientConfig, reportProblems, runScript, targetEnv, UsageError } from './lib/deploy';
import { CLIENT_RULE, COLLECTIONS, type CollectionSpec } from '../server/manifest';

const ARGS = { 'dry-run': 'flag', sandbox: 'value' } as const;
const SANDBOX_ENV = 'sandbox-env';

type Db = { createCollection(name: string): Promise<unknown> };

/** True for the "collection already exists" answer (DATABASE_COLLECTION_ALREADY_EXIST, "Table exist"). */
export function isAlreadyExists(err: unknown): boolean {
  const e = (err ?? {}) as { code?: unknown; errMsg?: unknown; message?: unknown };
  const text = `${String(e.code ?? '')} ${String(e.errMsg ?? '')} ${String(e.message ?? '')}`;
  return /ALREADY_EXIST|already exist|Table exist|ResourceInUse/i.test(text);
}

/** Creates every collection that is missing; "already exists" counts as done. */
export async function createCollections(
  db: Db,
  specs: CollectionSpec[],
): Promise<{ name: string; status: 'created' | 'exists' | 'failed'; error?: string }[]> {
  const results = [];
  for (const spec of specs) {
    try {
      await db.createCollection(spec.name);
      results.push({ name: spec.name, status: 'created' as const });
    } catch (err) {
      if (isAlreadyExists(err)) results.push({ name: spec.name, status: 'exists' as const });
      else {
        const e = err as { errMsg?: string; message?: string };
        results.push({ name: spec.name, status: 'failed' as const, error: e.errMsg ?? e.message ?? String(err) });
      }
    }
  }
  return results;
}

/** Console steps for indexes and security rules, one block per collection. */
export function consoleSteps(specs: CollectionSpec[], env: string, rule: object = CLIENT_RULE): string[] {
  const lines = [
    `Indexes and security rules: set them in 云开发控制台 (env ${env}) → 数据库 → <collection>:`,
    '  (neither miniprogram-ci nor wx-server-sdk can create them)',
  ];
  for (const spec of specs) {
    lines.push(`  ${spec.name}`);
    for (const index of spec.indexes) {
      const fields = Object.entries(index.keys).map(
        ([field, dir]) => `${field} ${dir === 1 ? '升序 (1)' : '降序 (-1)'}`,
      );
      lines.push(
        `    索引管理 → 添加索引: name "${index.name}", ${index.unique ? '唯一 (unique)' : '非唯一'}, ${fields.join(' + ')}`,
      );
    }
    lines.push(`    数据权限 → 自定义安全规则 → paste: ${JSON.stringify(rule)}`);
  }
  return lines;
}

/** The real wx-server-sdk, against the sandbox or the cloud. */
function connect(env: string, sandboxUrl: string | undefined): Db {
  if (sandboxUrl) {
    // How the sandbox wires the SDK into its own functions (read by the SDK on every request).
    Object.assign(process.env, {
      TCB_CONTEXT_CNFG: JSON.stringify({ URL: `${sandboxUrl.replace(/\/+$/, '')}/admin` }),
      TENCENTCLOUD_SECRETID: 'sandbox',
      TENCENTCLOUD_SECRETKEY: 'sandbox',
      TENCENTCLOUD_RUNENV: 'SCF',
      TENCENTCLOUD_REGION: 'ap-shanghai',
      TCB_ENV: env,
      SCF_NAMESPACE: env,
    });
  }
  const cloud = require('wx-server-sdk') as typeof import('wx-server-sdk');
  cloud.init({ env });
  return cloud.database() as unknown as Db;
}

/** Where setup goes and what stops a real run there. */
function target(sandbox: string | undefined, env: NodeJS.ProcessEnv): { env: string; problems: string[] } {
  if (sandbox !== undefined) {
    if (!/^https?:\/\/[^/]+/.test(sandbox)) throw new UsageError('--sandbox takes the sandbox URL');
    return { env: SANDBOX_ENV, problems: [] };
  }
  const project = readProjectConfig(ROOT);
  const cloud = targetEnv(project, readClientConfig(ROOT, project), env);
  const problems = cloud.problem ? [cloud.problem] : [];
  if (!env.TENCENTCLOUD_SECRETID || !env.TENCENTCLOUD_SECRETKEY) {
    problems.push(
      `set TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY: a Tencent Cloud API key of the account owning env ${cloud.env} ` +
        '(https://console.cloud.tencent.com/cam/capi)',
    );
  }
  return { env: cloud.env, problems };
}

export async function main(argv: string[]): Promise<number> {
  return runScript(async () => {
    const args = parseArgs(argv, ARGS);
    const dryRun = args['dry-run'] === true;
    const sandbox = args.sandbox;
    const { env, problems } = target(sandbox, process.env);
    console.log(
      `setup${dryRun ? ' (dry run)' : ''}: ${COLLECTIONS.length} collections → ${sandbox ? `sandbox ${sandbox}` : `env ${env}`}`,
    );
    if (!reportProblems({ problems, warnings: [] }, dryRun)) return 2;

    for (const spec of COLLECTIONS) {
      const indexes = spec.indexes.map((i) => `${i.name}${i.unique ? ' (unique)' : ''}`).join(', ') || 'no indexes';
      console.log(
        `  ${spec.name.padEnd(18)} ${spec.pii ? 'PII ' : '    '}${indexes}; rule ${JSON.stringify(CLIENT_RULE)}`,
      );
    }
    let failed = 0;
    if (dryRun) {
      console.log('dry run: stopped before the network. Would call, for each collection (wx-server-sdk):');
      console.log(
        `  cloud.init({ env: '${env}' }); await cloud.database().createCollection(name)  // "already exists" = done`,
      );
    } else {
      const results = await createCollections(connect(env, sandbox), COLLECTIONS);
      for (const r of results) console.log(`  ${r.name}: ${r.status}${r.error ? `: ${r.error}` : ''}`);
      failed = results.filter((r) => r.status === 'failed').length;
      if (sandbox)
        console.log('  (the sandbox does not model indexes or security rules; the steps below are for the cloud)');
    }
    for (const line of consoleSteps(COLLECTIONS, env)) console.log(line);
    if (failed) console.error(`error: ${failed} collection(s) could not be created`);
    return failed ? 1 : 0;
  });
}
