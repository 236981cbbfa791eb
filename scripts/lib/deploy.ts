/**
 * The flow shared by `npm run preview | upload | functions | setup`: arguments, the deploy
 * configuration (appid from project.config.json, upload key / robot / cloud env from the
 * environment), the upload key's temporary file, and the mini-program ship (build → compile →
 * size budget → listing → ci.preview / ci.upload, or in `--dry-run` the exact call it would make).
 *
 * miniprogram-ci reference: https://developers.weixin.qq.com/miniprogram/dev/devtools/ci.md
 * (ci.upload / ci.preview options: version, desc, robot 1–30, setting, qrcodeFormat, qrcodeOutputDest).
 */
import { execFileSync } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import util from 'util';
import { buildNpm } from '../build';
import {
  compileAndMeasure,
  inCiWorkDir,
  compileSettings,
  createProject,
  loadCi,
  readProjectConfig,
  ROOT,
  throwawayKey,
  TMP,
  type CiProject,
  type ProjectConfig,
} from './ci-project';

export const PLACEHOLDER_APPID = 'wx0000000000000000';
export const PLACEHOLDER_ENV = 'your-env-id';
/** WeChat's limit for the main package, and for each subpackage. */
export const PACKAGE_LIMIT = 2 * 1024 * 1024;
export const KEY_HELP = '公众平台 → 管理 → 开发管理 → 开发设置 → 小程序代码上传 (key and IP allow-list)';

// ------------------------------------------------------------------ arguments

type ArgSpec = Record<string, 'flag' | 'value'>;
export type ParsedArgs<S extends ArgSpec> = { [K in keyof S]?: S[K] extends 'flag' ? true : string };

/**
 * `--name value`, `--name=value` and `--flag`. Unknown options are errors: a mistyped `--dryrun`
 * must never turn into a real upload.
 */
export function parseArgs<S extends ArgSpec>(args: string[], spec: S): ParsedArgs<S> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    // `npm run upload -- --dry-run -- --desc "…"` (as the README writes optional parts): npm passes
    // the second `--` on; it separates nothing here.
    if (arg === '--') continue;
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(arg);
    const name = match?.[1];
    const kind = name === undefined ? undefined : spec[name];
    if (!match || !name || !kind) throw new UsageError(`unknown argument ${arg}; accepted: ${usage(spec)}`);
    if (kind === 'flag') {
      if (match[2] !== undefined) throw new UsageError(`--${name} takes no value`);
      out[name] = true;
      continue;
    }
    const value = match[2] ?? args[++i];
    if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value`);
    out[name] = value;
  }
  return out as ParsedArgs<S>;
}

function usage(spec: ArgSpec): string {
  return Object.entries(spec)
    .map(([name, kind]) => (kind === 'flag' ? `--${name}` : `--${name} <value>`))
    .join(' ');
}

/** A mistake in how the script was called or configured: one message, exit code 2, nothing done. */
export class UsageError extends Error {}

// ------------------------------------------------------------------ configuration

export interface DeployConfig {
  projectDir: string;
  project: ProjectConfig;
  appid: string;
  /** The cloud environment deploys go to: CLOUD_ENV, else the client's envId. */
  env: string;
  /** What the client is compiled with (miniprogram/config.ts). */
  client: { mode: string; envId: string };
  robot: number;
  /** Problems that stop a real run (each one line naming what to set); warnings in --dry-run. */
  problems: string[];
  /** Notices that never stop a run. */
  warnings: string[];
}

export function resolveProjectDir(dir: string | undefined): string {
  const projectDir = path.resolve(dir ?? ROOT);
  if (!fs.existsSync(path.join(projectDir, 'project.config.json'))) {
    throw new UsageError(`--project ${projectDir}: no project.config.json there`);
  }
  return projectDir;
}

/** The client's configuration, read from the project's own `miniprogram/config.ts`. */
export function readClientConfig(projectDir: string, project: ProjectConfig): { mode: string; envId: string } {
  const file = path.join(projectDir, project.miniprogramRoot, 'config.ts');
  // eslint-disable-next-line layers/boundaries -- the project's own client config, wherever the project is
  const mod = require(file) as { config?: { mode?: unknown; envId?: unknown } };
  return { mode: String(mod.config?.mode ?? ''), envId: String(mod.config?.envId ?? '') };
}

/** The cloud environment deploys go to: CLOUD_ENV, else the client's envId; a placeholder is a problem. */
export function targetEnv(
  project: ProjectConfig,
  client: { envId: string },
  env: NodeJS.ProcessEnv,
): { env: string; problem?: string } {
  const target = env.CLOUD_ENV?.trim() || client.envId;
  if (target && target !== PLACEHOLDER_ENV) return { env: target };
  const where = `CLOUD_ENV, or envId in ${project.miniprogramRoot}config.ts`;
  return { env: target, problem: `cloud environment is the placeholder "${PLACEHOLDER_ENV}": set ${where}` };
}

export function resolveConfig(
  projectDir: string,
  env: NodeJS.ProcessEnv,
  uses: { client?: 'preview' | 'upload'; key?: boolean } = {},
): DeployConfig {
  const project = readProjectConfig(projectDir);
  const client = readClientConfig(projectDir, project);
  const target = targetEnv(project, client, env);
  const robot = robotNumber(env.MP_ROBOT);
  const hasKey = Boolean(env.MP_PRIVATE_KEY_PATH?.trim() || env.MP_PRIVATE_KEY?.trim());
  const problems = [
    uses.key && !hasKey ? MISSING_KEY : undefined,
    appidProblem(project.appid),
    target.problem,
    robot.problem,
  ].filter((p): p is string => p !== undefined);
  const warnings: string[] = [];
  if (uses.client) {
    const checked = clientProblems(project.miniprogramRoot, client, env.CLOUD_ENV?.trim(), uses.client);
    problems.push(...checked.problems);
    warnings.push(...checked.warnings);
  }
  return { projectDir, project, appid: project.appid, env: target.env, client, robot: robot.value, problems, warnings };
}

function robotNumber(text = ''): { value: number; problem?: string } {
  const value = Number(text.trim() || '1');
  if (Number.isInteger(value) && value >= 1 && value <= 30) return { value };
  return { value, problem: `MP_ROBOT="${text}": set a robot number from 1 to 30` };
}

/** What the uploaded client will call: the env it is compiled with, and sandbox mode. */
function clientProblems(
  root: string,
  client: { mode: string; envId: string },
  cloudEnv: string | undefined,
  kind: 'preview' | 'upload',
): { problems: string[]; warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (cloudEnv && client.envId === PLACEHOLDER_ENV) {
    problems.push(`${root}config.ts envId is "${PLACEHOLDER_ENV}": set it to ${cloudEnv} (the client calls that env)`);
  } else if (cloudEnv && cloudEnv !== client.envId) {
    problems.push(`CLOUD_ENV=${cloudEnv} but the client calls envId "${client.envId}": make ${root}config.ts match`);
  }
  if (client.mode !== 'cloud') {
    // A preview runs on a real phone like an upload: it must not point at someone's local sandbox.
    problems.push(
      `${root}config.ts mode is "${client.mode}": the client calls the local sandbox; set mode: 'cloud' (${kind})`,
    );
  }
  return { problems, warnings };
}

function appidProblem(appid: string): string | undefined {
  if (appid === PLACEHOLDER_APPID) {
    return `project.config.json appid is the placeholder ${PLACEHOLDER_APPID}: set your mini-program's AppID there`;
  }
  if (!/^wx[0-9a-f]{16}$/i.test(appid)) {
    return `project.config.json appid "${appid}" is not an AppID (wx + 16 hex digits): set your mini-program's AppID`;
  }
  return undefined;
}

/**
 * Prints the problems: errors (and `false`) in a real run, warnings in a dry run (and `true`).
 */
export function reportProblems(config: Pick<DeployConfig, 'problems' | 'warnings'>, dryRun: boolean): boolean {
  for (const warning of config.warnings) console.warn(`warning: ${warning}`);
  for (const problem of config.problems) console.error(`${dryRun ? 'warning' : 'error'}: ${problem}`);
  if (config.problems.length && !dryRun) {
    console.error(
      `stopped before building or contacting WeChat or the cloud (${config.problems.length} setting(s) to fix)`,
    );
    return false;
  }
  return true;
}

// ------------------------------------------------------------------ upload key

export interface UploadKey {
  path: string;
  /** For logs: where the key came from; never its content. */
  source: string;
  /** The temp file written from MP_PRIVATE_KEY, removed by `release()`. */
  temporary: boolean;
  release(): void;
}

export const MISSING_KEY =
  'upload key missing: set MP_PRIVATE_KEY_PATH to the code-upload key file, or MP_PRIVATE_KEY to its content ' +
  `(from ${KEY_HELP})`;

/**
 * The code-upload key: MP_PRIVATE_KEY_PATH (a file) or MP_PRIVATE_KEY (its content, written to a
 * 0600 file under .tmp/ and removed by `release()`, on exit and on SIGINT/SIGTERM). Without
 * either: the throwaway compile key when `allowThrowaway` (dry runs), else a UsageError.
 */
export function acquireUploadKey(env: NodeJS.ProcessEnv, allowThrowaway: boolean): UploadKey {
  const keyPath = env.MP_PRIVATE_KEY_PATH?.trim();
  const content = env.MP_PRIVATE_KEY;
  if (keyPath) {
    if (!fs.existsSync(keyPath)) throw new UsageError(`MP_PRIVATE_KEY_PATH points to a missing file: ${keyPath}`);
    checkPem(fs.readFileSync(keyPath, 'utf8'), 'MP_PRIVATE_KEY_PATH');
    return { path: path.resolve(keyPath), source: `MP_PRIVATE_KEY_PATH (${keyPath})`, temporary: false, release() {} };
  }
  if (content?.trim()) {
    // CI secret stores often flatten newlines to a literal "\n".
    const pem = content.includes('\n') ? content : content.replace(/\\n/g, '\n');
    checkPem(pem, 'MP_PRIVATE_KEY');
    fs.mkdirSync(TMP, { recursive: true });
    const file = path.join(TMP, `private.ci-${process.pid}-${crypto.randomBytes(4).toString('hex')}.key`);
    fs.writeFileSync(file, pem.endsWith('\n') ? pem : `${pem}\n`, { mode: 0o600, flag: 'wx' });
    const remove = () => fs.rmSync(file, { force: true });
    const onSignal = (signal: NodeJS.Signals) => {
      remove();
      process.exit(signal === 'SIGINT' ? 130 : 143);
    };
    process.on('exit', remove);
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
    return {
      path: file,
      source: `MP_PRIVATE_KEY → ${path.relative(ROOT, file)} (mode ${(fs.statSync(file).mode & 0o777).toString(8)})`,
      temporary: true,
      release() {
        remove();
        process.off('exit', remove);
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      },
    };
  }
  if (!allowThrowaway) throw new UsageError(MISSING_KEY);
  return {
    path: throwawayKey(),
    source: 'none set: throwaway compile-only key (dry run)',
    temporary: false,
    release() {},
  };
}

function checkPem(pem: string, from: string): void {
  try {
    crypto.createPrivateKey(pem);
  } catch {
    throw new UsageError(`${from} is not a PEM private key: use the code-upload key from ${KEY_HELP}`);
  }
}

/** Runs `fn` with the upload key and always releases it (a temp key file never outlives the run). */
export async function withUploadKey<T>(
  env: NodeJS.ProcessEnv,
  allowThrowaway: boolean,
  fn: (key: UploadKey) => Promise<T>,
): Promise<T> {
  const key = acquireUploadKey(env, allowThrowaway);
  try {
    return await fn(key);
  } finally {
    key.release();
  }
}

// ------------------------------------------------------------------ output helpers

export const kb = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KB`;

/** `ci.name({ ... })` as it would be called, with the project shown by what identifies it. */
export function formatCall(name: string, options: Record<string, unknown>, project?: CiProject): string {
  const shown = project
    ? { project: new Shown(`ci.Project(appid ${project.appid}, ${project.projectPath})`), ...options }
    : options;
  return `${name}(${util.inspect(shown, { depth: 6, breakLength: 100, compact: 3, sorted: false })})`;
}

class Shown {
  constructor(private readonly text: string) {}
  [util.inspect.custom](): string {
    return `<${this.text}>`;
  }
}

/** `git log -1 --format=%s`, or `v<version>` outside a git checkout. */
export function lastCommitSubject(cwd: string, version: string): string {
  try {
    const subject = execFileSync('git', ['log', '-1', '--format=%s'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString()
      .trim();
    if (subject) return subject;
  } catch {
    // not a git checkout
  }
  return `v${version}`;
}

export function packageVersion(projectDir: string): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(projectDir, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? '0.0.0';
}

/** Runs a script body: UsageErrors become one message and exit code 2. */
export async function runScript(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`error: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

// ------------------------------------------------------------------ mini-program: preview / upload

const SHIP_ARGS = {
  'dry-run': 'flag',
  project: 'value',
  budget: 'value',
  desc: 'value',
  version: 'value',
  qrcode: 'value',
  page: 'value',
} as const;

export interface PackageSizes {
  files: number;
  bytes: number;
  main: number;
  subpackages: { root: string; bytes: number }[];
  largest: { file: string; bytes: number }[];
}

/** Splits compiled files into the main package and the subpackages declared in app.json. */
export function packageSizes(entries: { file: string; bytes: number }[], subRoots: string[]): PackageSizes {
  const roots = subRoots.map((root) => root.replace(/^\/+|\/+$/g, '') + '/');
  const sub = new Map(roots.map((root) => [root, 0]));
  let main = 0;
  for (const entry of entries) {
    const root = roots.find((r) => entry.file.replace(/^\/+/, '').startsWith(r));
    if (root) sub.set(root, (sub.get(root) ?? 0) + entry.bytes);
    else main += entry.bytes;
  }
  const sorted = [...entries].sort((a, b) => b.bytes - a.bytes);
  return {
    files: entries.length,
    bytes: entries.reduce((sum, e) => sum + e.bytes, 0),
    main,
    subpackages: [...sub].map(([root, bytes]) => ({ root, bytes })),
    largest: sorted.slice(0, 10),
  };
}

export function subpackageRoots(projectDir: string, project: ProjectConfig): string[] {
  const app = JSON.parse(fs.readFileSync(path.join(projectDir, project.miniprogramRoot, 'app.json'), 'utf8')) as {
    subPackages?: { root: string }[];
    subpackages?: { root: string }[];
  };
  return (app.subPackages ?? app.subpackages ?? []).map((p) => p.root);
}

/** The npm build into the project: `npm run build`'s own for this repository, else its packNpmRelationList. */
async function buildProjectNpm(projectDir: string, project: ProjectConfig): Promise<void> {
  if (projectDir === ROOT) return buildNpm();
  const ci = loadCi();
  const relations = (project.setting.packNpmRelationList as
    { packageJsonPath: string; miniprogramNpmDistDir: string }[] | undefined) ?? [
    { packageJsonPath: './package.json', miniprogramNpmDistDir: project.miniprogramRoot },
  ];
  for (const relation of relations) {
    await ci.packNpmManually({
      packageJsonPath: path.join(projectDir, relation.packageJsonPath),
      miniprogramNpmDistDir: path.join(projectDir, relation.miniprogramNpmDistDir),
    });
  }
}

/** `npm run preview` and `npm run upload`. */
export async function shipMiniprogram(kind: 'preview' | 'upload', argv: string[]): Promise<number> {
  const args = parseArgs(argv, SHIP_ARGS);
  const dryRun = args['dry-run'] === true;
  const budget = args.budget === undefined ? PACKAGE_LIMIT : Number(args.budget) * 1024;
  if (!(budget > 0) || budget > PACKAGE_LIMIT)
    throw new UsageError(`--budget takes KB, at most ${PACKAGE_LIMIT / 1024}`);
  const qrcode = args.qrcode ?? 'image';
  if (qrcode !== 'image' && qrcode !== 'terminal') throw new UsageError('--qrcode is image or terminal');
  const projectDir = resolveProjectDir(args.project);
  const config = resolveConfig(projectDir, process.env, { client: kind, key: !dryRun });
  const version = args.version ?? packageVersion(projectDir);
  const desc = args.desc ?? lastCommitSubject(projectDir, version);

  console.log(`${kind}${dryRun ? ' (dry run)' : ''}: appid ${config.appid}, version ${version}, robot ${config.robot}`);
  console.log(`  client: mode ${config.client.mode}, envId ${config.client.envId}; project ${projectDir}`);
  if (!reportProblems(config, dryRun)) return 2;

  return withUploadKey(process.env, dryRun, async (key) => {
    console.log(`  upload key: ${key.source}`);
    await buildProjectNpm(projectDir, config.project);
    console.log('  npm build: done');
    // Created after the npm build: a Project snapshots the file list when created.
    const ci = loadCi();
    const project = createProject(ci, {
      privateKeyPath: key.path,
      offline: dryRun,
      projectDir,
      upload: kind === 'upload',
    });
    let sizes: PackageSizes;
    let reused: boolean;
    try {
      const measured = await compileAndMeasure(ci, project, { reuse: dryRun });
      sizes = packageSizes(measured.entries, subpackageRoots(projectDir, config.project));
      reused = measured.reused;
    } catch (err) {
      const e = err as { message?: string; path?: string };
      console.error(
        `error: compile failed (official compiler): ${e.path ? `${e.path}: ` : ''}${e.message ?? String(err)}`,
      );
      return 1;
    }
    printListing(sizes, budget, reused);
    const over = overBudget(sizes, budget);
    for (const message of over) console.error(`error: ${message}`);
    if (over.length) return 1;

    const setting = compileSettings(config.project);
    const options: Record<string, unknown> = { version, desc, robot: config.robot, setting };
    if (kind === 'preview') {
      options.qrcodeFormat = qrcode;
      if (qrcode === 'image') options.qrcodeOutputDest = path.join(TMP, 'preview-qrcode.png');
      if (args.page) options.pagePath = args.page;
    }
    if (dryRun) {
      console.log(`dry run: stopped before the network. ${kind} would call:`);
      console.log(formatCall(`ci.${kind}`, options, project));
      return 0;
    }
    fs.mkdirSync(TMP, { recursive: true }); // qrcodeOutputDest's directory must exist
    const call = { project, ...options, onProgressUpdate: progressLogger() } as never;
    const result = await inCiWorkDir(() => (kind === 'upload' ? ci.upload(call) : ci.preview(call)));
    console.log(`${kind} done: ${util.inspect(result, { depth: 4, breakLength: 100 })}`);
    if (kind === 'preview' && qrcode === 'image')
      console.log(`QR code: ${path.relative(ROOT, String(options.qrcodeOutputDest))}`);
    return 0;
  });
}

/** The main package over `budget`, and any subpackage over WeChat's 2 MB. */
export function overBudget(sizes: PackageSizes, budget: number): string[] {
  const over = sizes.subpackages
    .filter((p) => p.bytes > PACKAGE_LIMIT)
    .map((p) => `subpackage ${p.root} is ${p.bytes} bytes (${kb(p.bytes)}), over the ${kb(PACKAGE_LIMIT)} limit`);
  if (sizes.main > budget) {
    over.unshift(`main package is ${sizes.main} bytes (${kb(sizes.main)}), budget ${budget} bytes (${kb(budget)})`);
  }
  return over;
}

/** The text after "compiled by the official compiler" when a compile of the same inputs answered. */
export const REUSED_NOTE = ' (a compile of these same inputs before: its result reused)';

function printListing(sizes: PackageSizes, budget: number, reused: boolean): void {
  console.log(
    `would upload ${sizes.files} files, ${sizes.bytes} bytes (${kb(sizes.bytes)}) compiled by the official compiler${reused ? REUSED_NOTE : ''}`,
  );
  console.log(`  main package: ${sizes.main} bytes (${kb(sizes.main)}) of budget ${kb(budget)}`);
  for (const p of sizes.subpackages) console.log(`  subpackage ${p.root}: ${kb(p.bytes)} of ${kb(PACKAGE_LIMIT)}`);
  console.log('  largest files:');
  for (const entry of sizes.largest) console.log(`    ${String(entry.bytes).padStart(8)}  ${entry.file}`);
}

function progressLogger(): (task: unknown) => void {
  let last = '';
  return (task) => {
    const text = typeof task === 'string' ? task : util.inspect(task, { breakLength: Infinity });
    if (text !== last) console.log(`  ${text}`);
    last = text;
  };
}
