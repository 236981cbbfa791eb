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
import { deployValues, SANDBOX_SETTINGS } from '../sandbox/secrets';
import { VARIABLES, type VariableSpec } from '../server/manifest';
import { buildFunctions, buildNpm, npmBuilt, ROOT } from './build';
import { parseEnvFile } from './deploy';
import { deploySandbox, outsideValues } from './lib/sandbox-deploy';

/** The untracked settings file `npm start` reads (the shell wins over it). */
export const SANDBOX_ENV_FILE = '.env.sandbox';

/**
 * The manifest's variables given to `npm start`: from `.env.sandbox` (if present), then this shell
 * (which wins). `from` says where each came from. Blank values count as unset.
 */
export function givenSettings(
  env: NodeJS.ProcessEnv,
  fileText: string | undefined,
): { values: Record<string, string>; from: Record<string, 'shell' | 'file'> } {
  const values: Record<string, string> = {};
  const from: Record<string, 'shell' | 'file'> = {};
  const file = fileText === undefined ? {} : parseEnvFile(fileText);
  for (const name of Object.keys(VARIABLES)) {
    const shell = env[name]?.trim();
    const inFile = file[name]?.trim();
    if (shell) [values[name], from[name]] = [shell, 'shell'];
    else if (inFile) [values[name], from[name]] = [inFile, 'file'];
  }
  return { values, from };
}

/** Names in `.env.sandbox` that are no variable of the manifest (a typo would otherwise go unnoticed). */
export function unknownNames(fileText: string | undefined): string[] {
  return fileText === undefined ? [] : Object.keys(parseEnvFile(fileText)).filter((name) => !(name in VARIABLES));
}

/**
 * One line per non-secret variable: the value the functions get and where it comes from (this
 * shell, .env.sandbox, the sandbox itself, or the manifest's default). Secrets are named, never shown.
 */
export function settingsLines(
  deployed: Readonly<Record<string, string>>,
  from: Readonly<Record<string, 'shell' | 'file'>>,
  own: Readonly<Record<string, string>>,
): string[] {
  const lines: string[] = [];
  const secrets: string[] = [];
  for (const [name, spec] of Object.entries(VARIABLES) as Array<[string, VariableSpec]>) {
    if (spec.secret) {
      secrets.push(name);
      continue;
    }
    const source = from[name] === 'shell' ? 'this shell' : from[name] === 'file' ? SANDBOX_ENV_FILE : undefined;
    const value = deployed[name];
    const fallback = 'default' in spec && spec.default !== undefined ? spec.default : undefined;
    const shown =
      value !== undefined
        ? `${value}  (${source ?? (name in own ? 'the sandbox' : 'sandbox setting')})`
        : fallback !== undefined
          ? `${Array.isArray(fallback) ? fallback.join(',') : String(fallback)}  (default)`
          : '(unset)';
    lines.push(`${name.padEnd(26)} ${shown}`);
  }
  lines.push(`${'secrets'.padEnd(26)} ${secrets.join(', ')}: the sandbox's own (never shown)`);
  return lines;
}

/**
 * The mini-program's view of the running sandbox (miniprogram/config.ts reads it): address and
 * per-start token. Untracked and left out of uploads; SANDBOX_CLIENT_FILE moves it (tests).
 */
export function clientSessionFile(env: NodeJS.ProcessEnv): string {
  return path.resolve(ROOT, env.SANDBOX_CLIENT_FILE?.trim() || 'miniprogram/sandbox-session.js');
}

function writeClientSession(file: string, sandbox: Sandbox): void {
  const text =
    '// Written by `npm start` for the sandbox it started; untracked, never uploaded. Do not commit.\n' +
    `module.exports = ${JSON.stringify({ url: sandbox.url, token: sandbox.token ?? '' })};\n`;
  fs.rmSync(file, { force: true });
  fs.writeFileSync(file, text, { mode: 0o600 });
}

export async function main(args: string[]): Promise<number | undefined> {
  console.log('realname-starter: building the cloud functions and starting the sandbox…');
  const built = buildFunctions();
  if (!npmBuilt()) await buildNpm();
  const port = sandboxPort(process.env, DEFAULT_PORT);
  // SANDBOX_ENV_FILE names another file (tests: never the developer's own).
  const envFile = path.resolve(ROOT, process.env.SANDBOX_ENV_FILE?.trim() || SANDBOX_ENV_FILE);
  const fileText = fs.existsSync(envFile) ? fs.readFileSync(envFile, 'utf8') : undefined;
  const unknown = unknownNames(fileText);
  if (unknown.length) console.error(`note: ${SANDBOX_ENV_FILE}: not a variable of the manifest: ${unknown.join(', ')}`);
  // --quota basic (or SANDBOX_QUOTA=basic): the basic plan's limits, as benchmarks and fault tests use.
  const quota = args.includes('--quota') || process.env.SANDBOX_QUOTA === 'basic' ? BASIC_PLAN : undefined;
  const sandbox = await startSandbox({ port, echoLogs: args.includes('--logs'), quota });
  // Configured like a real environment: the deploy applies the manifest through the sandbox's
  // management API. A declared setting from this shell or .env.sandbox (FACE_API_VERSION=v1 npm
  // start) is deployed too; a secret or a value the sandbox sets itself never is (a production key
  // stays out of .sandbox/).
  const given = givenSettings(process.env, fileText);
  const own = deployValues(sandbox.secrets, sandbox.url);
  const { values: outside, ignored } = outsideValues(given.values, own);
  if (ignored.length) console.error(`note: ignored for the sandbox (it keeps its own): ${ignored.join(', ')}`);
  const problems = await deploySandbox(sandbox, { env: outside });
  for (const problem of problems) console.error(`note: ${problem}`);
  const seeded = await seedDemo(sandbox);
  const clientFile = clientSessionFile(process.env);
  writeClientSession(clientFile, sandbox);
  const deployed = { ...SANDBOX_SETTINGS, ...own, ...outside };
  printWelcome(sandbox, built, seeded, Object.keys(outside), settingsLines(deployed, given.from, own));
  if (args.includes('--exit')) {
    await sandbox.stop();
    fs.rmSync(clientFile, { force: true });
    return 0;
  }
  const stop = async () => {
    console.log('\nstopping the sandbox…');
    await sandbox.stop();
    fs.rmSync(clientFile, { force: true });
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  return undefined;
}

function clientSessionFileOf(): string {
  return clientSessionFile(process.env);
}

function printWelcome(
  sandbox: Sandbox,
  functions: string[],
  seeded: string[],
  shell: string[],
  settings: string[],
): void {
  const u = sandbox.url;
  const h = sandbox.token ? ` -H 'X-Sandbox-Token: ${sandbox.token}'` : '';
  const lines = [
    '',
    `realname-starter sandbox is running at ${u}  (env ${sandbox.env}, data in ${path.relative(ROOT, sandbox.dataDir) || '.'})`,
    '',
    `  functions        ${functions.join(', ')}   →  POST ${u}/gateway/functions/<name>  (header X-WX-OPENID)`,
    `  configured       by the deploy (npm run deploy -- --check --sandbox ${u} reads it back)` +
      (shell.length ? `; from this shell or ${SANDBOX_ENV_FILE}: ${shell.join(', ')}` : ''),
    `  health           GET ${u}/health`,
    `  wx-server-sdk    TCB_CONTEXT_CNFG='{"URL":"${u}/admin${sandbox.token ? `?sandboxToken=${sandbox.token}&` : ''}"}'`,
    `  WeChat APIs      ${u}/wechat/...  (stable_token, face v1/v2, get_category, getrealnameinfo, checkrealnameinfo)`,
    `  function logs    ${path.relative(ROOT, sandbox.logFile)}   (npm start -- --logs to echo them here)`,
    sandbox.token
      ? `  LAN mode         listening beyond loopback: /admin, /sandbox/* and the gateway want the token ${sandbox.token}\n` +
        `                   (header X-Sandbox-Token; miniprogram/sandbox-session.js and the CLIs pick it up; it changes every start)`
      : `  access           this machine only (Host and Origin checked); SANDBOX_HOST=0.0.0.0 for a phone on the LAN`,
    '',
    'Settings the functions run with (FACE_API_VERSION=v1 npm start, or .env.sandbox, changes them):',
    ...settings.map((line) => `  ${line}`),
    '',
    `  demo admin       ${DEMO_ADMIN_OPENID}   (may import rosters and review staff verifications)`,
    `  demo user        ${DEMO_USER_OPENID}`,
    `  demo identities  (made up, checksum-valid; type one into 人脸核身, or GET ${u}/sandbox/identities)`,
    ...DEMO_IDENTITIES.map((d) => `                   ${d.name}  ${d.idCardNumber}  ${d.label}`),
    seeded.length ? `  seeded           ${seeded.join('; ')}` : '',
    '',
    'Try:',
    `  npm run demo -- --sandbox ${u}     (every enabled flow, in the terminal, without DevTools)`,
    `  curl -s -XPOST ${u}/gateway/functions/ping -H 'X-WX-OPENID: ${DEMO_USER_OPENID}'${h} -d '{"action":"ping"}'`,
    `  curl -s -XPOST ${u}/gateway/functions/face -H 'X-WX-OPENID: ${DEMO_USER_OPENID}'${h} -d '{"action":"status"}'`,
    `  curl -s -XPOST ${u}/gateway/functions/identity -H 'X-WX-OPENID: ${DEMO_USER_OPENID}'${h} -d '{"action":"methods"}'`,
    '  Open the repository in WeChat DevTools (详情 → 本地设置 → 不校验合法域名) and click through',
    '  实名信息校验 / 人脸核身 / 人工核验 / 微信支付实名 / 名单导入: miniprogram/config.ts points at this sandbox',
    `  (through ${path.relative(ROOT, clientSessionFileOf())}, written now).`,
    '',
    'Ctrl-C stops the sandbox. `npm run sandbox:reset` wipes its data.',
  ];
  console.log(lines.filter((l, i, all) => l !== '' || all[i - 1] !== '').join('\n'));
}
