/**
 * The deploy scripts, spawned exactly as `npm run <script> -- ...` runs them (so their
 * process.exit works). WeChat is unreachable here: every run is a dry run, or a real run that must
 * stop before any network call (checked with a preloaded guard that records every connection).
 * The deploys to a sandbox call the same `main` in this process (see deployInProcess).
 */
import { execFileSync, spawn } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import util from 'util';
import type { Sandbox } from '../../sandbox';
import { freshSandbox } from '../helpers/sandbox';
import { COLLECTIONS, FUNCTIONS } from '../../server/manifest';
import { sandboxApi } from '../../scripts/lib/sandbox-deploy';
import { zip } from '../../scripts/lib/zip';

// Each dry run packs three npm builds (the main package and each subpackage) before it compiles.
jest.setTimeout(300_000);

const ROOT = path.resolve(__dirname, '../..');
const TMP = path.join(ROOT, '.tmp');
const PLACEHOLDER_APPID = 'wx0000000000000000';
const appid = (JSON.parse(fs.readFileSync(path.join(ROOT, 'project.config.json'), 'utf8')) as { appid: string }).appid;
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-test-'));

interface Run {
  pid: number | undefined;
  code: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

/**
 * Preloaded into every run: each DNS lookup or socket connect is appended to $NETWORK_LOG and
 * fails. Dry runs and refused real runs must never reach for the network.
 */
const guard = path.join(scratch, 'network-guard.js');
fs.writeFileSync(
  guard,
  `const fs = require('fs'), net = require('net'), dns = require('dns');
const record = (what) => {
  fs.appendFileSync(process.env.NETWORK_LOG, what + '\\n');
  throw new Error('network blocked by test: ' + what);
};
dns.lookup = (host) => record('dns ' + host);
net.Socket.prototype.connect = function (...args) { return record('connect ' + JSON.stringify(args[0])); };\n`,
);
const networkLog = path.join(scratch, 'network-attempts.log');
const networkAttempts = () => (fs.existsSync(networkLog) ? fs.readFileSync(networkLog, 'utf8') : '');

/**
 * `node scripts/run.js scripts/<script>.ts ...args` with a deploy environment that has no secrets
 * unless given, and the network guard unless `network` (the sandbox run).
 */
function run(script: string, args: string[], env: Record<string, string> = {}, network = false): Promise<Run> {
  const base = { ...process.env };
  for (const name of Object.keys(base)) {
    if (/^(MP_|CLOUD_ENV$|TENCENTCLOUD_|TCB_|WECHAT_|PII_|WXPAY_|NODE_OPTIONS$)/.test(name)) delete base[name];
  }
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/run.js', `scripts/${script}.ts`, ...args], {
      cwd: ROOT,
      env: { ...base, ...(network ? {} : { NODE_OPTIONS: `--require ${guard}`, NETWORK_LOG: networkLog }), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ pid: child.pid, code, stdout, stderr, out: stdout + stderr }));
  });
}

/**
 * `npm run deploy -- ...args` in this process: the same `main` that `scripts/run.js` calls, with the
 * same environment as `run` gives a spawned one (no deploy secrets but `env`), its console output
 * captured, and a thrown error reported the way run.js reports it (the message, exit code 1). For the
 * sandbox runs, which need no network guard and never call process.exit: a spawned Node per run
 * would cost seconds each on a loaded machine and test nothing more.
 */
async function deployInProcess(args: string[], env: Record<string, string>): Promise<Run> {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) {
    if (/^(MP_|CLOUD_ENV$|TENCENTCLOUD_|TCB_|WECHAT_|PII_|WXPAY_|NODE_OPTIONS$)/.test(name)) delete process.env[name];
  }
  Object.assign(process.env, env);
  let stdout = '';
  let stderr = '';
  const line = (args: unknown[]) => util.format(...args) + '\n';
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void (stdout += line(a)));
  const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void (stderr += line(a)));
  let code: number;
  try {
    const { main } = require('../../scripts/deploy') as typeof import('../../scripts/deploy');
    code = await main(args);
  } catch (err) {
    stderr += line([err instanceof Error ? err.message : err]);
    code = 1;
  } finally {
    log.mockRestore();
    error.mockRestore();
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  }
  return { pid: process.pid, code, stdout, stderr, out: stdout + stderr };
}

/** The run exited with `code`; if not, the failure shows what it printed. */
function expectExit(r: Run, code: number): void {
  if (r.code !== code) throw new Error(`exited ${r.code}, expected ${code}; its output:\n${r.out}`);
}

/** A copy of the mini-program project (no git, no node_modules but @vant/weapp for the npm build). */
function copyProject(name: string, edit?: (dir: string) => void): string {
  const dir = path.join(scratch, name);
  for (const file of ['project.config.json', 'package.json']) fs.cpSync(path.join(ROOT, file), path.join(dir, file));
  fs.cpSync(path.join(ROOT, 'miniprogram'), path.join(dir, 'miniprogram'), {
    recursive: true,
    filter: (src) => !src.includes(`${path.sep}miniprogram_npm`),
  });
  fs.cpSync(path.join(ROOT, 'node_modules/@vant/weapp'), path.join(dir, 'node_modules/@vant/weapp'), {
    recursive: true,
  });
  edit?.(dir);
  return dir;
}

function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json, null, 2));
}

function newKey(): string {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

/** The key's body lines: none of them may ever appear in output or in a file left behind. */
const keyBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----'));

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/**
 * New `.key` files under .tmp/ since `before`, but those another process of this test run holds
 * for a moment (test/unit/scripts/deploy.test.ts, run in parallel, writes `private.ci-<its pid>-…`).
 */
function newKeyFiles(before: Set<string>, run: Run): string[] {
  return filesUnder(TMP).filter((f) => {
    if (before.has(f) || !f.endsWith('.key')) return false;
    const owner = /^private\.ci-(\d+)-/.exec(path.basename(f))?.[1];
    return owner === undefined || Number(owner) === run.pid;
  });
}

/** A file's text, or '' when it went away meanwhile (another process's scratch file). */
function readIfThere(file: string): string {
  try {
    return fs.statSync(file).size < 1_000_000 ? fs.readFileSync(file, 'utf8') : '';
  } catch {
    return '';
  }
}

const KEY_FILE = /upload key: MP_PRIVATE_KEY → (\.tmp\/private\.ci-\d+-[0-9a-f]+\.key) \(mode 600\)/;

let gitSubject: string;
try {
  gitSubject = execFileSync('git', ['log', '-1', '--format=%s'], { cwd: ROOT }).toString().trim();
} catch {
  gitSubject = `v${version}`;
}

// The long runs start at once, two at a time (each forks the official compiler, which must report
// ready within miniprogram-ci's fixed 20 s: more at once on a loaded machine risks that): the ROOT
// ones one after the other (both npm-build into miniprogram/), the copies one after the other.
const brokenKey = newKey();
let runs: {
  upload: Promise<Run>;
  preview: Promise<Run>;
  broken: Promise<Run>;
  overBudget: Promise<Run>;
};

beforeAll(() => {
  const upload = run('upload', ['--dry-run']);
  const broken = copyProject('broken-wxml', (dir) => {
    const page = path.join(dir, 'miniprogram/pages/broken');
    fs.mkdirSync(page, { recursive: true });
    fs.writeFileSync(path.join(page, 'index.wxml'), '<view>{{ name </view>\n<view class="x"\n');
    fs.writeFileSync(path.join(page, 'index.ts'), 'Component({});\n');
    fs.writeFileSync(path.join(page, 'index.json'), '{ "component": true, "usingComponents": {} }\n');
    editJson(path.join(dir, 'miniprogram/app.json'), (app) => (app.pages as string[]).push('pages/broken/index'));
  });
  const overBudget = copyProject('over-budget');
  const brokenRun = run('upload', ['--dry-run', '--project', broken], { MP_PRIVATE_KEY: brokenKey });
  runs = {
    upload,
    preview: upload.then(() => run('preview', ['--dry-run'])),
    broken: brokenRun,
    overBudget: brokenRun.then(() => run('upload', ['--dry-run', '--budget', '1', '--project', overBudget])),
  };
});

let sandbox: Sandbox | undefined;
afterAll(async () => {
  await Promise.allSettled(Object.values(runs ?? {}));
  await sandbox?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

function expectListing(out: string): void {
  const listed = /would upload (\d+) files, (\d+) bytes/.exec(out);
  expect(listed).not.toBeNull();
  expect(Number(listed![1])).toBeGreaterThan(10);
  expect(Number(listed![2])).toBeGreaterThan(10_000);
  expect(out).toMatch(/main package: \d+ bytes \([\d.]+ KB\) of budget 2048\.0 KB/);
  // The largest compiled files, with their sizes.
  expect(out).toMatch(/largest files:\n\s+\d+ {2}\S+/);
  // A main-package page or app.js, or a subpackage's page (verify/pages/…, admin/pages/…).
  expect(out).toMatch(/\d+ {2}(app\.js\b|([\w-]+\/)?pages\/)/);
  if (appid === PLACEHOLDER_APPID) expect(out).toContain(`warning: project.config.json appid is the placeholder`);
}

describe('npm run upload -- --dry-run', () => {
  it('builds, compiles with the official compiler, lists the package and prints the ci.upload call', async () => {
    const r = await runs.upload;
    expectExit(r, 0);
    expect(r.out).toContain('npm build: done');
    expectListing(r.out);
    expect(r.out).toContain('upload key: none set: throwaway compile-only key (dry run)');
    expect(r.out).toContain('dry run: stopped before the network. upload would call:');
    expect(r.out).toContain(`ci.upload({\n  project: <ci.Project(appid ${appid}, ${ROOT})>,`);
    expect(r.out).toContain(`version: '${version}'`);
    expect(r.out).toContain(`desc: ${util.inspect(gitSubject)},`);
    expect(r.out).toContain('robot: 1,');
    expect(r.out).toContain('ignoreUploadUnusedFiles: true');
  });

  it('leaves no compiler cache folder (an empty md5-named one) in the project: it goes to .tmp/miniprogram-ci/', async () => {
    await runs.upload;
    expect(fs.readdirSync(ROOT).filter((name) => /^[0-9a-f]{32}$/.test(name))).toEqual([]);
  });

  it('fails with the compiler message when a page has invalid WXML (and removes the MP_PRIVATE_KEY file)', async () => {
    const r = await runs.broken;
    expectExit(r, 1);
    expect(r.stderr).toMatch(/error: compile failed \(official compiler\): pages\/broken\/index\.wxml: \d+:\d+:.+/);
    expect(r.out).not.toContain('would call');
    const keyFile = KEY_FILE.exec(r.out)?.[1];
    expect(keyFile).toBeDefined();
    expect(fs.existsSync(path.join(ROOT, keyFile!))).toBe(false);
    for (const line of keyBody(brokenKey)) expect(r.out).not.toContain(line);
  });

  it('fails over the size budget (--budget 1 KB) after listing what it measured', async () => {
    const r = await runs.overBudget;
    expectExit(r, 1);
    expectListing(r.out.replace('of budget 1.0 KB', 'of budget 2048.0 KB'));
    expect(r.stderr).toMatch(/error: main package is \d+ bytes \([\d.]+ KB\), budget 1024 bytes \(1\.0 KB\)/);
    expect(r.out).not.toContain('would call');
  });
});

describe('npm run functions -- --dry-run', () => {
  const secrets = {
    WECHAT_APPSECRET: `appsecret-${crypto.randomUUID()}`,
    PII_ENC_KEY: crypto.randomBytes(32).toString('base64'),
  };
  let r: Run;
  beforeAll(async () => {
    r = await run('functions', ['--dry-run'], {
      CLOUD_ENV: 'prod-test-1a2b3c',
      WECHAT_APPID: 'wx1234567890abcdef',
      ...secrets,
    });
  });

  it('checks every built function and prints one uploadFunction call per manifest function', () => {
    expectExit(r, 0);
    expect(r.out).not.toContain('cloud environment is the placeholder');
    for (const spec of FUNCTIONS) {
      expect(r.out).toMatch(
        new RegExp(`  ${spec.name}: cloudfunctions/${spec.name}/ \\d+ files, [\\d.]+ KB: index.js exports main`),
      );
      expect(r.out).toContain(
        `ci.cloud.uploadFunction({\n  project: <ci.Project(appid ${appid}, ${ROOT})>,\n  env: 'prod-test-1a2b3c',\n` +
          `  name: '${spec.name}',\n  path: '${path.join(ROOT, 'cloudfunctions', spec.name)}',\n  remoteNpmInstall: true\n})`,
      );
      expect(r.out).toContain(`  ${spec.name}: timeout ${spec.timeout} s, memory ${spec.memory} MB`);
    }
  });

  it('reports each env var as set or missing, never its value', () => {
    expect(r.out).toContain('WECHAT_APPID (required): set');
    expect(r.out).toContain('WECHAT_APPSECRET (required, secret): set');
    expect(r.out).toContain('PII_ENC_KEY (required, secret): set');
    expect(r.out).toContain('PII_INDEX_KEY (required, secret): missing');
    for (const value of [...Object.values(secrets), 'wx1234567890abcdef']) expect(r.out).not.toContain(value);
    expect(r.out).toContain("miniprogram-ci cannot set a function's timeout, memory or environment variables");
  });
});

describe('npm run deploy', () => {
  const secrets = {
    WECHAT_APPSECRET: crypto.randomBytes(16).toString('hex'),
    PII_ENC_KEY: crypto.randomBytes(32).toString('base64'),
    PII_INDEX_KEY: crypto.randomBytes(32).toString('base64'),
  };
  const envFile = path.join(scratch, 'deploy.env');
  fs.writeFileSync(
    envFile,
    [`WECHAT_APPID=wx1234567890abcdef`, ...Object.entries(secrets).map(([k, v]) => `${k}=${v}`)].join('\n'),
  );

  it('--dry-run needs no key and no network: every call an empty environment needs, secrets masked', async () => {
    const r = await run('deploy', ['--dry-run', '--env-file', envFile], { CLOUD_ENV: 'prod-test-1a2b3c' });
    expectExit(r, 0);
    expect(r.out).toContain('deploy (dry run) → env prod-test-1a2b3c');
    for (const spec of FUNCTIONS) {
      const create = r.out
        .split('\n')
        .find((l) => l.includes('scf.CreateFunction') && l.includes(`"FunctionName":"${spec.name}"`));
      expect(create).toBeDefined();
      expect(create).toContain(`"Runtime":"${spec.runtime}"`);
      expect(create).toContain(`"Timeout":${spec.timeout},"MemorySize":${spec.memory}`);
      expect(create).toContain('"InstallDependency":"FALSE"');
      expect(create).toMatch(/"ZipFile":"<\d+ characters>"/);
      for (const trigger of spec.triggers)
        expect(r.out).toContain(`${spec.name}: timer ${trigger.name} (${trigger.config})`);
    }
    expect(r.out).toContain('"Key":"WECHAT_APPSECRET","Value":"<secret, 32 characters>"');
    for (const spec of COLLECTIONS) {
      expect(r.out).toContain(`tcb.CreateTable {"EnvId":"prod-test-1a2b3c","MongoConnector":`);
      expect(r.out).toContain(`"TableName":"${spec.name}"`);
      expect(r.out).toContain(`"ResourceType":"collection","Resource":"${spec.name}","Permission":"ADMINONLY"`);
    }
    expect(r.out).toContain(
      '"IndexName":"verify_key","MgoKeySchema":{"MgoIsUnique":true,"MgoIndexKeys":[{"Name":"verifyKey","Direction":"1"}]}',
    );
    expect(r.out).toMatch(
      /tcb\.ModifyStorageSafeRule \{"EnvId":"prod-test-1a2b3c","Bucket":"<bucket>","AclTag":"PRIVATE"\}/,
    );
    // Values the functions would refuse are named (realname has no merchant here), never printed.
    expect(r.out).toContain('note: realname: WeChat Pay merchant config: WXPAY_MCH_ID is missing');
    for (const value of Object.values(secrets)) expect(r.out).not.toContain(value);
  });

  it('a real run without a Tencent Cloud API key stops with one message, before building or any network', async () => {
    const r = await run('deploy', ['--env-file', envFile], { CLOUD_ENV: 'prod-test-1a2b3c' });
    expectExit(r, 2);
    expect(r.stderr.match(/^error: .*/gm)).toEqual([
      expect.stringContaining('TENCENTCLOUD_SECRETID and TENCENTCLOUD_SECRETKEY'),
    ]);
  });

  it('a real run with values the functions would refuse stops naming each one, before any network', async () => {
    const r = await run('deploy', ['--env-file', envFile, '--only', 'realname'], {
      CLOUD_ENV: 'prod-test-1a2b3c',
      TENCENTCLOUD_SECRETID: 'AKIDtest',
      TENCENTCLOUD_SECRETKEY: 'test-key',
    });
    expectExit(r, 2);
    expect(r.stderr).toContain(
      'error: realname: WeChat Pay merchant config: WXPAY_MCH_ID is missing; WXPAY_CERT_SERIALNO is missing',
    );
    expect(r.stderr).toContain('deploy with --allow-incomplete');
  });

  describe('against a sandbox (the same deploy code, the same API)', () => {
    const deployWith = (target: Sandbox, env: Record<string, string>, ...args: string[]) =>
      // --no-build: the suite's sandbox was deployed from this build already.
      deployInProcess([...args, '--no-build', '--sandbox', target.url], { SANDBOX_DATA_DIR: target.dataDir, ...env });
    const deploy = (target: Sandbox, ...args: string[]) => deployWith(target, {}, ...args);
    let blank: Sandbox | undefined;
    const others: Sandbox[] = [];
    afterAll(async () => {
      await blank?.stop();
      await Promise.all(others.map((s) => s.stop()));
    });
    const another = async (options: { deploy?: boolean } = {}) => {
      const made = await freshSandbox(options);
      others.push(made);
      return made;
    };
    const clientAdd = (target: Sandbox, openid: string, collection: string, data: object) =>
      fetch(`${target.url}/sandbox/client/database`, {
        method: 'POST',
        headers: { 'X-WX-OPENID': openid },
        body: JSON.stringify({ collection, action: 'add', data }),
      }).then((r) => r.json() as Promise<{ ok: boolean }>);
    /** face_sessions without its unique index, every rule back to the platform's defaults. */
    const unprotected = async (target: Sandbox) => {
      await sandboxApi(target).call('tcb', 'UpdateTable', {
        EnvId: target.env,
        TableName: 'face_sessions',
        DropIndexes: [{ IndexName: 'verify_key' }],
      });
      await fetch(`${target.url}/sandbox/rules/reset`, { method: 'POST' });
    };
    const CLIENT_WRITTEN = { _openid: { $exists: true } };

    it('client-written documents cannot stop the deploy: rules close first, --check counts them, the deploy removes them, then builds the unique index', async () => {
      const target = await another();
      await unprotected(target);
      // Under READONLY a user may add documents; two without verifyKey collide under a unique index.
      for (const n of [1, 2]) {
        expect(await clientAdd(target, 'o_attacker', 'face_sessions', { n })).toMatchObject({ ok: true });
      }
      expect(await clientAdd(target, 'o_attacker', 'bindings', { method: 'face' })).toMatchObject({ ok: true });

      const check = await deploy(target, '--check');
      expectExit(check, 1);
      expect(check.out).toContain('drift: collection face_sessions: 2 client-written documents');
      expect(check.out).toContain('drift: collection bindings: 1 client-written document');
      // --check changes nothing.
      expect(target.db.count('face_sessions', CLIENT_WRITTEN)).toBe(2);
      expect(target.environment.collectionPermission('face_sessions').acl).toBe('READONLY');

      const apply = await deploy(target);
      expectExit(apply, 0);
      expect(apply.out).toContain('  face_sessions: removed 2 client-written documents');
      // The rules were closed before any index was built.
      expect(apply.out.indexOf('  face_sessions: permission ADMINONLY')).toBeGreaterThan(-1);
      expect(apply.out.indexOf('storage: permission PRIVATE')).toBeGreaterThan(-1);
      expect(apply.out.indexOf('  face_sessions: permission ADMINONLY')).toBeLessThan(
        apply.out.indexOf('  face_sessions: index verify_key'),
      );
      expect(apply.out.indexOf('storage: permission PRIVATE')).toBeLessThan(
        apply.out.indexOf('  face_sessions: index verify_key'),
      );
      for (const spec of COLLECTIONS) {
        expect(target.environment.collectionPermission(spec.name).acl).toBe('ADMINONLY');
        expect(target.db.count(spec.name, CLIENT_WRITTEN)).toBe(0);
      }
      expect(target.environment.storagePermission().acl).toBe('PRIVATE');
      expect(target.db.indexes('face_sessions').find((i) => i.name === 'verify_key')).toMatchObject({ unique: true });
      expect((await deploy(target, '--check')).code).toBe(0);
    });

    it('a unique index that still cannot be built names the collection and index and what to do; the rules are applied anyway', async () => {
      const target = await another();
      await unprotected(target);
      // Two documents without verifyKey written by the server side (no _openid): the deploy must not delete them.
      target.db.insert('face_sessions', [{ _id: 'server-a' }, { _id: 'server-b' }]);
      const r = await deploy(target);
      expectExit(r, 1);
      expect(r.stderr).toMatch(/collection face_sessions: unique index verify_key cannot be built/);
      expect(r.stderr).toContain('then deploy again');
      expect(target.db.count('face_sessions', {})).toBe(2);
      for (const spec of COLLECTIONS) expect(target.environment.collectionPermission(spec.name).acl).toBe('ADMINONLY');
      expect(target.environment.storagePermission().acl).toBe('PRIVATE');
    });

    it('--dry-run --sandbox changes nothing', async () => {
      const target = await another({ deploy: false });
      const r = await deploy(target, '--dry-run');
      expectExit(r, 0);
      expect(r.out).toContain('dry run done (nothing was changed)');
      expect(r.out).toContain('scf.CreateFunction');
      expect(target.environment.functionNames()).toEqual([]);
      expect(target.db.collectionNames()).toEqual([]);
      expect(target.environment.storagePermission().acl).toBe('READONLY');
    });

    it('--sandbox never takes secrets, WECHAT_API_BASE or cloud credentials from the env file or the shell; environment.json is 0600', async () => {
      const target = await another();
      const production = {
        WECHAT_APPSECRET: crypto.randomBytes(16).toString('hex'),
        PII_ENC_KEY: crypto.randomBytes(32).toString('base64'),
        PII_INDEX_KEY: crypto.randomBytes(32).toString('base64'),
        WXPAY_PRIVATE_KEY: newKey(),
      };
      const file = path.join(scratch, 'production.env');
      fs.writeFileSync(
        file,
        [
          ...Object.entries(production).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
          'WECHAT_API_BASE=https://api.weixin.qq.com',
          'FACE_API_VERSION=v1',
        ].join('\n'),
      );
      const shell = { TENCENTCLOUD_SECRETID: 'AKIDproductionkey0001', TENCENTCLOUD_SECRETKEY: 'production-secret-key' };
      const r = await deployWith(target, shell, '--env-file', file);
      expectExit(r, 0);
      expect(r.out).toMatch(
        /ignored for the sandbox \(it keeps its own\): .*WECHAT_APPSECRET.*WECHAT_API_BASE.*TENCENTCLOUD_SECRETID/,
      );
      const face = target.environment.function('face')!;
      expect(face.env.FACE_API_VERSION).toBe('v1');
      expect(face.env.WECHAT_APPSECRET).toBe(target.secrets.appSecret);
      expect(face.env.WECHAT_API_BASE).toBe(`${target.url}/wechat`);
      const stored = fs.readFileSync(path.join(target.dataDir, 'environment.json'), 'utf8');
      for (const value of [...Object.values(production), ...keyBody(production.WXPAY_PRIVATE_KEY)]) {
        expect(stored).not.toContain(value);
        expect(r.out).not.toContain(value);
      }
      expect(stored).not.toContain('api.weixin.qq.com');
      expect(fs.statSync(path.join(target.dataDir, 'environment.json')).mode & 0o777).toBe(0o600);
    });

    it('--check names changed and undeclared variables (never their values), extra triggers and extra unique indexes; the deploy removes them', async () => {
      const target = await another();
      const api = sandboxApi(target);
      const ns = { FunctionName: 'face', Namespace: target.env };
      const current = await api.call('scf', 'GetFunction', ns);
      const variables = (current.Environment as { Variables: { Key: string; Value: string }[] }).Variables;
      const changed = crypto.randomBytes(16).toString('hex');
      await api.call('scf', 'UpdateFunctionConfiguration', {
        ...ns,
        Environment: {
          Variables: [
            ...variables.map((v) => (v.Key === 'WECHAT_APPSECRET' ? { Key: v.Key, Value: changed } : v)),
            { Key: 'LEFTOVER_TOKEN', Value: 'leftover-value-123' },
          ],
        },
      });
      await api.call('scf', 'BatchCreateTrigger', {
        ...ns,
        Triggers: JSON.stringify([{ TriggerName: 'stray', Type: 'timer', TriggerDesc: '0 0 3 * * * *' }]),
        Count: 1,
      });
      await api.call('tcb', 'UpdateTable', {
        EnvId: target.env,
        TableName: 'admins',
        CreateIndexes: [
          {
            IndexName: 'stray_unique',
            MgoKeySchema: { MgoIsUnique: true, MgoIndexKeys: [{ Name: 'note', Direction: '1' }] },
          },
        ],
      });
      const check = await deploy(target, '--check');
      expectExit(check, 1);
      expect(check.out).toContain('drift: function face: variable WECHAT_APPSECRET differs from the deploy values');
      expect(check.out).toContain('drift: function face: variable LEFTOVER_TOKEN is set but not declared for face');
      expect(check.out).toContain('drift: function face: timer trigger stray is not in the manifest');
      expect(check.out).toContain('drift: collection admins: unique index stray_unique is not in the manifest');
      for (const value of [changed, 'leftover-value-123', target.secrets.appSecret]) {
        expect(check.out).not.toContain(value);
      }
      const apply = await deploy(target);
      expectExit(apply, 0);
      const face = target.environment.function('face')!;
      expect(face.env.WECHAT_APPSECRET).toBe(target.secrets.appSecret);
      expect(face.env.LEFTOVER_TOKEN).toBeUndefined();
      expect(face.triggers.map((t) => t.name)).not.toContain('stray');
      expect(target.db.indexes('admins').map((i) => i.name)).not.toContain('stray_unique');
      expect((await deploy(target, '--check')).code).toBe(0);
    });

    it('code uploaded behind the deploy’s back (the description keeps the old mark) is replaced by the deploy', async () => {
      const target = await another();
      const built = target.environment.function('ping')!.codeSha256;
      const files = new Map(
        ['index.js', 'package.json', 'config.json'].map((f) => [
          f,
          fs.readFileSync(path.join(ROOT, 'cloudfunctions/ping', f)),
        ]),
      );
      files.set('index.js', Buffer.concat([files.get('index.js')!, Buffer.from('\n// uploaded in the console\n')]));
      await sandboxApi(target).call('scf', 'UpdateFunctionCode', {
        FunctionName: 'ping',
        Namespace: target.env,
        Handler: 'index.main',
        InstallDependency: 'FALSE',
        ZipFile: zip(files).toString('base64'),
      });
      expect(target.environment.function('ping')!.codeSha256).not.toBe(built);
      const r = await deploy(target);
      expectExit(r, 0);
      expect(r.out).toContain('  ping: code uploaded');
      expect(target.environment.function('ping')!.codeSha256).toBe(built);
    });

    it('--check finds no drift on a deployed sandbox; after /sandbox/rules/reset it names each weaker rule; deploy repairs it, idempotently', async () => {
      sandbox = await freshSandbox();
      const clean = await deploy(sandbox, '--check');
      expectExit(clean, 0);
      expect(clean.out).toContain('no drift: the environment matches the manifest');

      await fetch(`${sandbox.url}/sandbox/rules/reset`, { method: 'POST' });
      const reset = await deploy(sandbox, '--check');
      expectExit(reset, 1);
      for (const spec of COLLECTIONS) {
        expect(reset.out).toContain(`drift: collection ${spec.name}: permission READONLY is weaker than ADMINONLY`);
      }
      expect(reset.out).toContain('drift: storage: permission READONLY is weaker than PRIVATE');

      const repaired = await deploy(sandbox);
      expectExit(repaired, 0);
      expect(repaired.out).toContain('  bindings: permission ADMINONLY');
      expect(repaired.out).not.toMatch(/: created|configuration updated/);
      const again = await deploy(sandbox);
      expectExit(again, 0);
      // Only the code is uploaded again (nothing the API answers proves it is this build's); nothing else is written.
      expect((again.out.match(/^ {2}\S.*$/gm) ?? []).sort()).toEqual(
        FUNCTIONS.map((f) => `  ${f.name}: code uploaded`).sort(),
      );
      expect((await deploy(sandbox, '--check')).code).toBe(0);
    });

    it('--check names a timeout below the manifest, a dropped unique index, a missing secret, a changed timer', async () => {
      const api = sandboxApi(sandbox!);
      const face = FUNCTIONS.find((f) => f.name === 'face')!;
      const current = await api.call('scf', 'GetFunction', { FunctionName: 'face', Namespace: sandbox!.env });
      const variables = (current.Environment as { Variables: { Key: string; Value: string }[] }).Variables;
      await api.call('scf', 'UpdateFunctionConfiguration', {
        FunctionName: 'face',
        Namespace: sandbox!.env,
        Timeout: 3,
        Environment: { Variables: variables.filter((v) => v.Key !== 'WECHAT_APPSECRET') },
      });
      await api.call('tcb', 'UpdateTable', {
        EnvId: sandbox!.env,
        TableName: 'face_sessions',
        DropIndexes: [{ IndexName: 'verify_key' }],
      });
      await api.call('scf', 'DeleteTrigger', {
        FunctionName: 'face',
        Namespace: sandbox!.env,
        TriggerName: face.triggers[0]!.name,
      });
      const r = await deploy(sandbox!, '--check');
      expectExit(r, 1);
      expect(r.out).toContain(`drift: function face: timeout 3 s is below ${face.timeout} s`);
      expect(r.out).toContain('drift: function face: variable WECHAT_APPSECRET missing');
      expect(r.out).toContain('drift: collection face_sessions: index verify_key missing (unique)');
      expect(r.out).toContain(`drift: function face: timer ${face.triggers[0]!.name} missing`);
      expect(r.out).not.toContain(sandbox!.secrets.appSecret);
      // The deploy puts it all back.
      expect((await deploy(sandbox!)).code).toBe(0);
      expect((await deploy(sandbox!, '--check')).code).toBe(0);
    });

    it('a function on a runtime older than Node.js 16 is drift, and the deploy refuses to pretend it can fix it', async () => {
      blank = await freshSandbox({ deploy: false });
      const zipped = zip(
        new Map(
          ['index.js', 'package.json', 'config.json'].map((f) => [
            f,
            fs.readFileSync(path.join(ROOT, 'cloudfunctions/ping', f)),
          ]),
        ),
      );
      await sandboxApi(blank).call('scf', 'CreateFunction', {
        FunctionName: 'ping',
        Namespace: blank.env,
        Runtime: 'Nodejs8.9',
        Handler: 'index.main',
        InstallDependency: 'FALSE',
        Code: { ZipFile: zipped.toString('base64') },
      });
      const check = await deploy(blank, '--check');
      expectExit(check, 1);
      expect(check.out).toContain('drift: function ping: runtime Nodejs8.9 is older than Node.js 16');
      expect(check.out).toContain('drift: function face: missing');
      expect(check.out).toContain('drift: collection admins: missing');
      const apply = await deploy(blank);
      expect(apply.code).not.toBe(0);
      expect(apply.out).toContain(
        'a runtime can only be chosen at creation. Delete the function in the console and deploy again.',
      );
    });
  });
});

describe('the upload key', () => {
  it('the network guard itself records attempts', () => {
    const log = path.join(scratch, 'guard-check.log');
    expect(() =>
      execFileSync(process.execPath, ['-r', guard, '-e', "require('https').get('https://servicewechat.com/')"], {
        env: { ...process.env, NETWORK_LOG: log },
        stdio: 'ignore',
      }),
    ).toThrow();
    expect(fs.readFileSync(log, 'utf8')).toContain('servicewechat.com');
  });

  it('missing without --dry-run: one clear message, non-zero exit, no build and no network attempt', async () => {
    // Everything else configured, so the key is the only thing to fix.
    const dir = copyProject('configured', (d) => {
      editJson(path.join(d, 'project.config.json'), (c) => (c.appid = 'wx1234567890abcdef'));
      const config = path.join(d, 'miniprogram/config.ts');
      fs.writeFileSync(
        config,
        fs
          .readFileSync(config, 'utf8')
          .replace(/mode: '\w+',/, "mode: 'cloud',")
          .replace(/envId: '[^']*',/, "envId: 'prod-test-1a2b3c',"),
      );
    });
    const r = await run('upload', ['--project', dir]);
    expect(r.code).not.toBe(0);
    expect(r.stderr.match(/^error: .*/gm)).toEqual([
      'error: upload key missing: set MP_PRIVATE_KEY_PATH to the code-upload key file, or MP_PRIVATE_KEY to its content ' +
        '(from 公众平台 → 管理 → 开发管理 → 开发设置 → 小程序代码上传 (key and IP allow-list))',
    ]);
    expect(r.out).not.toContain('npm build');
    expect(fs.existsSync(path.join(dir, 'miniprogram/miniprogram_npm'))).toBe(false);
    expect(networkAttempts()).toBe('');
  });

  it('MP_PRIVATE_KEY is written to a 0600 file under .tmp/, removed afterwards, never printed', async () => {
    const key = newKey();
    const before = new Set(filesUnder(TMP));
    const r = await run('functions', ['--dry-run', '--only', 'ping'], { MP_PRIVATE_KEY: key });
    expectExit(r, 0);
    const keyFile = KEY_FILE.exec(r.out)?.[1];
    expect(keyFile).toBeDefined();
    expect(fs.existsSync(path.join(ROOT, keyFile!))).toBe(false);
    for (const line of keyBody(key)) expect(r.out).not.toContain(line);
    // Nothing else kept a copy: no new key file under .tmp/, and no file in the scratch dirs holds it.
    expect(newKeyFiles(before, r)).toEqual([]);
    for (const file of [...filesUnder(TMP), ...filesUnder(path.join(ROOT, '.sandbox'))]) {
      expect(readIfThere(file)).not.toContain(keyBody(key)[0]);
    }
  });

  it('a real run with the placeholder appid stops before writing any key file', async () => {
    const dir = copyProject('placeholder', (d) =>
      editJson(path.join(d, 'project.config.json'), (c) => (c.appid = PLACEHOLDER_APPID)),
    );
    const before = new Set(filesUnder(TMP));
    const r = await run('upload', ['--project', dir], { MP_PRIVATE_KEY: newKey() });
    expectExit(r, 2);
    expect(r.stderr).toContain(`error: project.config.json appid is the placeholder ${PLACEHOLDER_APPID}`);
    expect(r.stderr).not.toContain('upload key missing');
    expect(r.out).not.toContain('upload key:');
    expect(newKeyFiles(before, r)).toEqual([]);
  });
});

// Last: the preview dry run (started after the upload one) runs while the sandbox tests above do.
describe('npm run preview -- --dry-run', () => {
  it('prints the ci.preview call with the QR code written to .tmp/preview-qrcode.png', async () => {
    const r = await runs.preview;
    expectExit(r, 0);
    expectListing(r.out);
    expect(r.out).toContain('preview would call:');
    expect(r.out).toContain(`ci.preview({\n  project: <ci.Project(appid ${appid}, ${ROOT})>,`);
    expect(r.out).toContain("qrcodeFormat: 'image'");
    expect(r.out).toContain(`qrcodeOutputDest: '${path.join(TMP, 'preview-qrcode.png')}'`);
  });
});

describe('the network', () => {
  it('no run above (dry runs, refused real runs) attempted a DNS lookup or a connection', async () => {
    await Promise.all(Object.values(runs));
    expect(networkAttempts()).toBe('');
  });
});
