/**
 * `npm start`: the starter on its embedded default, the local sandbox. Builds what it needs, starts
 * the sandbox (cloud + WeChat APIs emulated, the real functions with the real SDK), seeds the demo
 * data and prints what to try. Ctrl-C stops it cleanly.
 */
import fs from 'fs';
import path from 'path';
import { DEFAULT_PORT, startSandbox, type Sandbox } from '../sandbox';
import { seedDemo } from '../sandbox/seed';
import { BASIC_PLAN } from '../sandbox/tcb';
import { DEMO_ADMIN_OPENID, DEMO_IDENTITIES, DEMO_USER_OPENID } from '../sandbox/demo';
import { sandboxPort } from '../sandbox/env';
import { deployValues } from '../sandbox/secrets';
import { VARIABLES } from '../server/manifest';
import { buildFunctions, buildNpm, ROOT } from './build';
import { deploySandbox, outsideValues } from './lib/sandbox-deploy';

export async function main(args: string[]): Promise<number | undefined> {
  const built = buildFunctions();
  if (!fs.existsSync(path.join(ROOT, 'miniprogram/miniprogram_npm/@vant/weapp'))) await buildNpm();
  const port = sandboxPort(process.env, DEFAULT_PORT);
  // --quota basic (or SANDBOX_QUOTA=basic): the basic plan's limits, as benchmarks and fault tests use.
  const quota = args.includes('--quota') || process.env.SANDBOX_QUOTA === 'basic' ? BASIC_PLAN : undefined;
  const sandbox = await startSandbox({ port, echoLogs: args.includes('--logs'), quota });
  // Configured like a real environment: the deploy applies the manifest through the sandbox's
  // management API. A declared setting set in this shell (FACE_API_VERSION=v1 npm start) is deployed
  // too; a secret or a value the sandbox sets itself never is (a production key stays out of .sandbox/).
  const { values: shell, ignored } = outsideValues(
    Object.fromEntries(
      Object.keys(VARIABLES)
        .filter((name) => process.env[name]?.trim())
        .map((name) => [name, process.env[name]!.trim()]),
    ),
    deployValues(sandbox.secrets, sandbox.url),
  );
  if (ignored.length) console.error(`note: ignored for the sandbox (it keeps its own): ${ignored.join(', ')}`);
  const problems = await deploySandbox(sandbox, { env: shell });
  for (const problem of problems) console.error(`note: ${problem}`);
  const seeded = await seedDemo(sandbox);
  printWelcome(sandbox, built, seeded, Object.keys(shell));
  if (args.includes('--exit')) {
    await sandbox.stop();
    return 0;
  }
  const stop = async () => {
    console.log('\nstopping the sandbox…');
    await sandbox.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return undefined;
}

function printWelcome(sandbox: Sandbox, functions: string[], seeded: string[], shell: string[]): void {
  const u = sandbox.url;
  const lines = [
    '',
    `realname-starter sandbox is running at ${u}  (env ${sandbox.env}, data in ${path.relative(ROOT, sandbox.dataDir) || '.'})`,
    '',
    `  functions        ${functions.join(', ')}   →  POST ${u}/gateway/functions/<name>  (header X-WX-OPENID)`,
    `  configured       by the deploy (npm run deploy -- --check --sandbox ${u} reads it back)` +
      (shell.length ? `; from this shell: ${shell.join(', ')}` : ''),
    `  health           GET ${u}/health`,
    `  wx-server-sdk    TCB_CONTEXT_CNFG='{"URL":"${u}/admin"}'`,
    `  WeChat APIs      ${u}/wechat/...  (stable_token, face v1/v2, get_category, getrealnameinfo, checkrealnameinfo)`,
    `  function logs    ${path.relative(ROOT, sandbox.logFile)}   (npm start -- --logs to echo them here)`,
    '',
    `  demo admin       ${DEMO_ADMIN_OPENID}   (may import rosters and review staff verifications)`,
    `  demo user        ${DEMO_USER_OPENID}`,
    `  demo identities  (made up, checksum-valid; type one into 人脸核身, or GET ${u}/sandbox/identities)`,
    ...DEMO_IDENTITIES.map((d) => `                   ${d.name}  ${d.idCardNumber}  ${d.label}`),
    seeded.length ? `  seeded           ${seeded.join('; ')}` : '',
    '',
    'Try:',
    `  curl -s -XPOST ${u}/gateway/functions/ping -H 'X-WX-OPENID: ${DEMO_USER_OPENID}' -d '{"action":"ping"}'`,
    `  curl -s -XPOST ${u}/gateway/functions/face -H 'X-WX-OPENID: ${DEMO_USER_OPENID}' -d '{"action":"status"}'`,
    `  curl -s -XPOST ${u}/gateway/functions/identity -H 'X-WX-OPENID: ${DEMO_USER_OPENID}' -d '{"action":"methods"}'`,
    '  Open the repository in WeChat DevTools (详情 → 本地设置 → 不校验合法域名) and click through',
    '  实名信息校验 / 人脸核身 / 人工核验 / 微信支付实名 / 名单导入: miniprogram/config.ts points at this sandbox.',
    '',
    'Ctrl-C stops the sandbox. `npm run sandbox:reset` wipes its data.',
  ];
  console.log(lines.filter((l, i, all) => l !== '' || all[i - 1] !== '').join('\n'));
}
