/**
 * The deploy scripts, spawned exactly as `npm run <script> -- ...` runs them (so their
 * process.exit works). WeChat is unreachable here: every run is a dry run, or a real run that must
 * stop before any network call (checked with a preloaded guard that records every connection).
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

jest.setTimeout(180_000);

const ROOT = path.resolve(__dirname, '../..');
const TMP = path.join(ROOT, '.tmp');
const PLACEHOLDER_APPID = 'wx0000000000000000';
const appid = (JSON.parse(fs.readFileSync(path.join(ROOT, 'project.config.json'), 'utf8')) as { appid: string }).appid;
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-test-'));

interface Run {
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
    child.on('close', (code) => resolve({ code, stdout, stderr, out: stdout + stderr }));
  });
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

const KEY_FILE = /upload key: MP_PRIVATE_KEY → (\.tmp\/private\.ci-\d+-[0-9a-f]+\.key) \(mode 600\)/;

let gitSubject: string;
try {
  gitSubject = execFileSync('git', ['log', '-1', '--format=%s'], { cwd: ROOT }).toString().trim();
} catch {
  gitSubject = `v${version}`;
}

// The long runs start together (the ROOT ones one after the other: both npm-build into miniprogram/).
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
  runs = {
    upload,
    preview: upload.then(() => run('preview', ['--dry-run'])),
    broken: run('upload', ['--dry-run', '--project', broken], { MP_PRIVATE_KEY: brokenKey }),
    overBudget: run('upload', ['--dry-run', '--budget', '1', '--project', copyProject('over-budget')]),
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
  expect(out).toMatch(/\d+ {2}app\.js\b|\d+ {2}pages\//);
  if (appid === PLACEHOLDER_APPID) expect(out).toContain(`warning: project.config.json appid is the placeholder`);
}

describe('npm run upload -- --dry-run', () => {
  it('builds, compiles with the official compiler, lists the package and prints the ci.upload call', async () => {
    const r = await runs.upload;
    expect(r.code).toBe(0);
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

  it('fails with the compiler message when a page has invalid WXML (and removes the MP_PRIVATE_KEY file)', async () => {
    const r = await runs.broken;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/error: compile failed \(official compiler\): pages\/broken\/index\.wxml: \d+:\d+:.+/);
    expect(r.out).not.toContain('would call');
    const keyFile = KEY_FILE.exec(r.out)?.[1];
    expect(keyFile).toBeDefined();
    expect(fs.existsSync(path.join(ROOT, keyFile!))).toBe(false);
    for (const line of keyBody(brokenKey)) expect(r.out).not.toContain(line);
  });

  it('fails over the size budget (--budget 1 KB) after listing what it measured', async () => {
    const r = await runs.overBudget;
    expect(r.code).toBe(1);
    expectListing(r.out.replace('of budget 1.0 KB', 'of budget 2048.0 KB'));
    expect(r.stderr).toMatch(/error: main package is \d+ bytes \([\d.]+ KB\), budget 1024 bytes \(1\.0 KB\)/);
    expect(r.out).not.toContain('would call');
  });
});

describe('npm run preview -- --dry-run', () => {
  it('prints the ci.preview call with the QR code written to .tmp/preview-qrcode.png', async () => {
    const r = await runs.preview;
    expect(r.code).toBe(0);
    expectListing(r.out);
    expect(r.out).toContain('preview would call:');
    expect(r.out).toContain(`ci.preview({\n  project: <ci.Project(appid ${appid}, ${ROOT})>,`);
    expect(r.out).toContain("qrcodeFormat: 'image'");
    expect(r.out).toContain(`qrcodeOutputDest: '${path.join(TMP, 'preview-qrcode.png')}'`);
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
    expect(r.code).toBe(0);
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
    expect(r.code).toBe(0);
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
    expect(r.code).toBe(2);
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
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'error: realname: WeChat Pay merchant config: WXPAY_MCH_ID is missing; WXPAY_CERT_SERIALNO is missing',
    );
    expect(r.stderr).toContain('deploy with --allow-incomplete');
  });

  describe('against a sandbox (the same deploy code, the same API)', () => {
    const deploy = (target: Sandbox, ...args: string[]) =>
      // --no-build: the suite's sandbox was deployed from this build already.
      run('deploy', [...args, '--no-build', '--sandbox', target.url], { SANDBOX_DATA_DIR: target.dataDir }, true);
    let blank: Sandbox | undefined;
    afterAll(() => blank?.stop());

    it('--check finds no drift on a deployed sandbox; after /sandbox/rules/reset it names each weaker rule; deploy repairs it, idempotently', async () => {
      sandbox = await freshSandbox();
      const clean = await deploy(sandbox, '--check');
      expect(clean.code).toBe(0);
      expect(clean.out).toContain('no drift: the environment matches the manifest');

      await fetch(`${sandbox.url}/sandbox/rules/reset`, { method: 'POST' });
      const reset = await deploy(sandbox, '--check');
      expect(reset.code).toBe(1);
      for (const spec of COLLECTIONS) {
        expect(reset.out).toContain(`drift: collection ${spec.name}: permission READONLY is weaker than ADMINONLY`);
      }
      expect(reset.out).toContain('drift: storage: permission READONLY is weaker than PRIVATE');

      const repaired = await deploy(sandbox);
      expect(repaired.code).toBe(0);
      expect(repaired.out).toContain('  bindings: permission ADMINONLY');
      expect(repaired.out).not.toMatch(/: created|code updated|configuration updated/);
      const again = await deploy(sandbox);
      expect(again.code).toBe(0);
      expect(again.out).not.toMatch(/^ {2}\S.*(created|updated|permission|index|timer)/m);
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
      expect(r.code).toBe(1);
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
      expect(check.code).toBe(1);
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
    expect(r.code).toBe(0);
    const keyFile = KEY_FILE.exec(r.out)?.[1];
    expect(keyFile).toBeDefined();
    expect(fs.existsSync(path.join(ROOT, keyFile!))).toBe(false);
    for (const line of keyBody(key)) expect(r.out).not.toContain(line);
    // Nothing else kept a copy: no new key file under .tmp/, and no file in the scratch dirs holds it.
    expect(filesUnder(TMP).filter((f) => !before.has(f) && f.endsWith('.key'))).toEqual([]);
    for (const file of [...filesUnder(TMP), ...filesUnder(path.join(ROOT, '.sandbox'))]) {
      if (fs.statSync(file).size < 1_000_000) expect(fs.readFileSync(file, 'utf8')).not.toContain(keyBody(key)[0]);
    }
  });

  it('a real run with the placeholder appid stops before writing any key file', async () => {
    const dir = copyProject('placeholder', (d) =>
      editJson(path.join(d, 'project.config.json'), (c) => (c.appid = PLACEHOLDER_APPID)),
    );
    const before = new Set(filesUnder(TMP));
    const r = await run('upload', ['--project', dir], { MP_PRIVATE_KEY: newKey() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: project.config.json appid is the placeholder ${PLACEHOLDER_APPID}`);
    expect(r.stderr).not.toContain('upload key missing');
    expect(r.out).not.toContain('upload key:');
    expect(filesUnder(TMP).filter((f) => !before.has(f) && f.endsWith('.key'))).toEqual([]);
  });
});

describe('the network', () => {
  it('no run above (dry runs, refused real runs) attempted a DNS lookup or a connection', async () => {
    await Promise.all(Object.values(runs));
    expect(networkAttempts()).toBe('');
  });
});
