/**
 * The deploy scripts' pure parts, in-process: arguments, configuration problems, the upload key's
 * temp file, package sizes, function folder checks, and the environment deploy's pure parts.
 */
import crypto from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { checkFunctionDir, consoleInstructions, envVarStatus } from '../../../scripts/functions';
import { ROOT, TMP } from '../../../scripts/lib/ci-project';
import {
  acquireUploadKey,
  MISSING_KEY,
  overBudget,
  packageSizes,
  parseArgs,
  PLACEHOLDER_APPID,
  PLACEHOLDER_ENV,
  resolveConfig,
  UsageError,
} from '../../../scripts/lib/deploy';
import { envFileOf, manualSteps, parseEnvFile } from '../../../scripts/deploy';
import { describeCall, readOnlyApi, type CloudApi, type Params } from '../../../scripts/lib/cloud-api';
import { applyState, checkState, desiredState, SECRET_VARIABLES } from '../../../scripts/lib/env-deploy';
import { outsideValues } from '../../../scripts/lib/sandbox-deploy';
import { deployValues, type SandboxSecrets } from '../../../sandbox/secrets';
import { COLLECTIONS, type FunctionSpec } from '../../../server/manifest';

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-unit-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function pem(): string {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

/** A minimal project: project.config.json + miniprogram/config.ts. */
function project(appid: string, client: { mode: string; envId: string }): string {
  const dir = fs.mkdtempSync(path.join(scratch, 'project-'));
  fs.mkdirSync(path.join(dir, 'miniprogram'));
  const config = { appid, miniprogramRoot: 'miniprogram/', cloudfunctionRoot: 'cloudfunctions/', setting: {} };
  fs.writeFileSync(path.join(dir, 'project.config.json'), JSON.stringify(config));
  fs.writeFileSync(path.join(dir, 'miniprogram/config.ts'), `export const config = ${JSON.stringify(client)};\n`);
  return dir;
}

describe('parseArgs', () => {
  const spec = { 'dry-run': 'flag', budget: 'value' } as const;
  it('reads flags and values in both spellings', () => {
    expect(parseArgs(['--dry-run', '--budget', '300'], spec)).toEqual({ 'dry-run': true, budget: '300' });
    expect(parseArgs(['--budget=12'], spec)).toEqual({ budget: '12' });
  });
  it('takes the README’s `npm run upload -- --dry-run -- --desc "…"` (npm passes the second `--` on)', () => {
    expect(parseArgs(['--dry-run', '--', '--budget', '300'], spec)).toEqual({ 'dry-run': true, budget: '300' });
    expect(() => parseArgs(['--budget', '--', '300'], spec)).toThrow(/--budget needs a value/);
  });
  it('refuses unknown or malformed options (a typo never becomes a real upload)', () => {
    expect(() => parseArgs(['--dryrun'], spec)).toThrow(UsageError);
    expect(() => parseArgs(['dry-run'], spec)).toThrow(/unknown argument dry-run/);
    expect(() => parseArgs(['--budget'], spec)).toThrow(/--budget needs a value/);
    expect(() => parseArgs(['--budget', '--dry-run'], spec)).toThrow(/needs a value/);
    expect(() => parseArgs(['--dry-run=yes'], spec)).toThrow(/takes no value/);
  });
});

describe('resolveConfig', () => {
  it('reports each placeholder once, naming what to set', () => {
    const dir = project(PLACEHOLDER_APPID, { mode: 'sandbox', envId: PLACEHOLDER_ENV });
    const config = resolveConfig(dir, {}, { client: 'upload', key: true });
    expect(config.problems).toEqual([
      MISSING_KEY,
      expect.stringContaining('appid is the placeholder wx0000000000000000: set'),
      expect.stringContaining('set CLOUD_ENV, or envId in miniprogram/config.ts'),
      expect.stringContaining("set mode: 'cloud'"),
    ]);
  });

  it('is clean when configured, and takes CLOUD_ENV and MP_ROBOT from the environment', () => {
    const dir = project('wx1234567890abcdef', { mode: 'cloud', envId: 'prod-1a2b' });
    const config = resolveConfig(dir, { MP_PRIVATE_KEY_PATH: '/k', MP_ROBOT: '7' }, { client: 'upload', key: true });
    expect(config).toMatchObject({
      appid: 'wx1234567890abcdef',
      env: 'prod-1a2b',
      robot: 7,
      problems: [],
      warnings: [],
    });
    expect(resolveConfig(dir, { CLOUD_ENV: 'other-env' }).env).toBe('other-env');
  });

  it('flags a client that calls another env than CLOUD_ENV, a bad robot, and refuses sandbox mode on preview too', () => {
    const dir = project('wx1234567890abcdef', { mode: 'sandbox', envId: 'prod-1a2b' });
    const config = resolveConfig(dir, { CLOUD_ENV: 'test-9z', MP_ROBOT: '31' }, { client: 'preview' });
    expect(config.problems).toEqual([
      expect.stringContaining('MP_ROBOT="31": set a robot number from 1 to 30'),
      expect.stringContaining('CLOUD_ENV=test-9z but the client calls envId "prod-1a2b"'),
      expect.stringContaining('mode is "sandbox"'),
    ]);
    expect(config.warnings).toEqual([]);
  });
});

describe('acquireUploadKey', () => {
  it('writes MP_PRIVATE_KEY to a 0600 file under .tmp/ and removes it on release', () => {
    const key = pem();
    const upload = acquireUploadKey({ MP_PRIVATE_KEY: key }, false);
    expect(path.dirname(upload.path)).toBe(TMP);
    expect(fs.statSync(upload.path).mode & 0o777).toBe(0o600);
    expect(fs.readFileSync(upload.path, 'utf8')).toBe(key);
    expect(upload.source).not.toContain(key.split('\n')[1]);
    upload.release();
    expect(fs.existsSync(upload.path)).toBe(false);
  });

  it('accepts a key whose newlines a CI secret store flattened to "\\n"', () => {
    const key = pem();
    const upload = acquireUploadKey({ MP_PRIVATE_KEY: key.trim().replace(/\n/g, '\\n') }, false);
    expect(fs.readFileSync(upload.path, 'utf8')).toBe(key);
    upload.release();
  });

  it('uses MP_PRIVATE_KEY_PATH in place, and refuses what is not a private key', () => {
    const file = path.join(scratch, 'private.test.key');
    fs.writeFileSync(file, pem(), { mode: 0o600 });
    const upload = acquireUploadKey({ MP_PRIVATE_KEY_PATH: file, MP_PRIVATE_KEY: 'ignored' }, false);
    expect(upload).toMatchObject({ path: file, temporary: false });
    expect(() => acquireUploadKey({ MP_PRIVATE_KEY: 'not a key' }, false)).toThrow(
      /MP_PRIVATE_KEY is not a PEM private key/,
    );
    expect(() => acquireUploadKey({ MP_PRIVATE_KEY_PATH: path.join(scratch, 'none') }, false)).toThrow(/missing file/);
    expect(fs.readdirSync(TMP).filter((f) => f.startsWith(`private.ci-${process.pid}-`))).toEqual([]);
  });

  it('without a key: the one message in a real run, the throwaway compile key in a dry run', () => {
    expect(() => acquireUploadKey({}, false)).toThrow(MISSING_KEY);
    expect(acquireUploadKey({}, true).path).toBe(path.join(TMP, 'private.compile-only.key'));
  });
});

describe('packageSizes', () => {
  it('splits the main package from subpackages and lists the largest files', () => {
    const sizes = packageSizes(
      [
        { file: 'app.js', bytes: 100 },
        { file: 'pages/index/index.js', bytes: 300 },
        { file: 'packageA/pages/a.js', bytes: 5000 },
      ],
      ['packageA/', 'packageB'],
    );
    expect(sizes).toMatchObject({ files: 3, bytes: 5400, main: 400 });
    expect(sizes.subpackages).toEqual([
      { root: 'packageA/', bytes: 5000 },
      { root: 'packageB/', bytes: 0 },
    ]);
    expect(sizes.largest.map((e) => e.file)).toEqual(['packageA/pages/a.js', 'pages/index/index.js', 'app.js']);
    expect(overBudget(sizes, 400)).toEqual([]);
    expect(overBudget(sizes, 399)).toEqual(['main package is 400 bytes (0.4 KB), budget 399 bytes (0.4 KB)']);
    const big = packageSizes([{ file: 'packageA/big.js', bytes: 3 * 1024 * 1024 }], ['packageA']);
    expect(overBudget(big, 1024)).toEqual([
      'subpackage packageA/ is 3145728 bytes (3072.0 KB), over the 2048.0 KB limit',
    ]);
  });
});

describe('checkFunctionDir', () => {
  const spec: FunctionSpec = {
    name: 'demo',
    description: '',
    runtime: 'Nodejs20.19',
    timeout: 5,
    memory: 128,
    env: [
      { name: 'DEMO_SECRET', secret: true, required: true, description: '' },
      { name: 'DEMO_MODE', secret: false, required: false, description: '' },
    ],
    triggers: [],
  };
  function folder(files: Record<string, string>): string {
    const dir = fs.mkdtempSync(path.join(scratch, 'fn-'));
    for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
    return dir;
  }
  const pkg = JSON.stringify({ main: 'index.js', dependencies: {}, bundledDependencies: { 'wx-server-sdk': '4.0.2' } });
  const config = JSON.stringify({ permissions: { openapi: [] }, triggers: [] });

  it('passes a folder like `npm run build` writes', () => {
    const dir = folder({ 'index.js': 'exports.main = async () => 1;', 'package.json': pkg, 'config.json': config });
    expect(checkFunctionDir(dir, spec, '4.0.2')).toMatchObject({ files: 3, errors: [] });
  });

  it('names every defect: no main, a foreign runtime require, extra dependencies, drifted triggers', () => {
    const dir = folder({
      'index.js': "require('left-pad'); exports.handler = 1;",
      'package.json': JSON.stringify({
        dependencies: { lodash: '4.17.21' },
        bundledDependencies: { 'wx-server-sdk': '4.0.2' },
      }),
      'config.json': JSON.stringify({ triggers: [{ name: 't', type: 'timer', config: '0 0 * * * * *' }] }),
    });
    const { errors } = checkFunctionDir(dir, spec, '4.0.2');
    expect(errors).toEqual([
      expect.stringMatching(/index.js fails to load: .*left-pad/),
      expect.stringContaining('lodash'),
      expect.stringContaining('triggers'),
    ]);
    fs.writeFileSync(path.join(dir, 'index.js'), "require('os'); exports.handler = 1;");
    expect(checkFunctionDir(dir, spec, '4.0.2').errors[0]).toBe('index.js exports main as undefined, not a function');
    // Loads here (a local node_modules), but the cloud installs nothing: everything must be bundled.
    fs.mkdirSync(path.join(dir, 'node_modules/fake-dep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules/fake-dep/index.js'), 'module.exports = 1;');
    fs.writeFileSync(path.join(dir, 'index.js'), "require('fake-dep'); exports.main = async () => 1;");
    expect(checkFunctionDir(dir, spec, '4.0.2').errors[0]).toBe(
      'index.js requires fake-dep at load; the cloud installs nothing (wx-server-sdk@4.0.2 is bundled)',
    );
    fs.rmSync(path.join(dir, 'config.json'));
    expect(checkFunctionDir(dir, spec, '4.0.2').errors).toContain('config.json is missing');
  });

  it('reports env vars as set or missing, never their values', () => {
    const lines = envVarStatus(spec, { DEMO_SECRET: 'hunter2-value' });
    expect(lines).toEqual(['DEMO_SECRET (required, secret): set', 'DEMO_MODE (optional): missing']);
    expect(lines.join('\n')).not.toContain('hunter2');
    expect(consoleInstructions([spec], 'prod-1a2b').join('\n')).toContain(
      'demo: timeout 5 s, memory 128 MB; env vars: DEMO_SECRET (secret), DEMO_MODE (optional)',
    );
  });
});

describe('deploy: env file, values, calls', () => {
  it('reads KEY=VALUE files: comments, export, quotes, multi-line PEMs, \\n escapes', () => {
    const pem = '-----BEGIN PRIVATE KEY-----\nAAAA\nBBBB\n-----END PRIVATE KEY-----';
    const text = [
      '# a comment',
      'export WECHAT_APPID=wx1234567890abcdef',
      "ROSTER_ADMIN_OPENIDS='o_a,o_b'",
      'FACE_API_VERSION=v1   # trailing comment',
      `WXPAY_PRIVATE_KEY="${pem}"`,
      'PII_ENC_KEYS_OLD="k0:abc\\nnot-a-newline"',
      '',
    ].join('\n');
    expect(parseEnvFile(text)).toEqual({
      WECHAT_APPID: 'wx1234567890abcdef',
      ROSTER_ADMIN_OPENIDS: 'o_a,o_b',
      FACE_API_VERSION: 'v1',
      WXPAY_PRIVATE_KEY: pem,
      PII_ENC_KEYS_OLD: 'k0:abc\nnot-a-newline',
    });
    expect(() => parseEnvFile('no equals sign here')).toThrow('env file line 1: expected KEY=VALUE');
    expect(() => parseEnvFile('A="never closed\nB=1')).toThrow('env file line 1: A has no closing quote');
  });

  it('ends a quoted value at its closing quote: a trailing comment never swallows the lines after it', () => {
    const text = [
      'WECHAT_APPSECRET="abc" # prod',
      'WECHAT_APPID=wx1234567890abcdef',
      "ROSTER_ADMIN_OPENIDS='o_a' # admins",
      'FACE_API_VERSION="v2"',
      'PII_ENC_KEY_ID="k\\"1\\\\"   ',
      'WXPAY_MCH_ID="1900000001"',
    ].join('\n');
    expect(parseEnvFile(text)).toEqual({
      WECHAT_APPSECRET: 'abc',
      WECHAT_APPID: 'wx1234567890abcdef',
      ROSTER_ADMIN_OPENIDS: 'o_a',
      FACE_API_VERSION: 'v2',
      PII_ENC_KEY_ID: 'k"1\\',
      WXPAY_MCH_ID: '1900000001',
    });
    // A multi-line value (PEM-shaped, no key in it) still ends at its own closing quote, comment and all.
    const pem = '-----BEGIN TEST VALUE-----\nAAAA\n-----END TEST VALUE-----';
    expect(parseEnvFile(`WXPAY_PRIVATE_KEY="${pem}" # merchant\nWXPAY_MCH_ID=1`)).toEqual({
      WXPAY_PRIVATE_KEY: pem,
      WXPAY_MCH_ID: '1',
    });
  });

  it('refuses text after a closing quote, naming the line and never the value', () => {
    const secret = '0123456789abcdef0123456789abcdef';
    for (const [text, line] of [
      [`A=1\nWECHAT_APPSECRET="${secret}"trailing`, 2],
      [`WECHAT_APPSECRET='${secret}' x`, 1],
      [`WXPAY_PRIVATE_KEY="-----BEGIN-----\n${secret}\n-----END-----" oops`, 3],
    ] as const) {
      let message = '';
      try {
        parseEnvFile(text);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(new RegExp(`^env file line ${line}: \\w+ has text after its closing quote`));
      expect(message).not.toContain(secret);
    }
    expect(() => parseEnvFile("A='never closed\nB=1'")).toThrow('env file line 1: A has no closing quote');
  });

  it('a sandbox takes settings from outside, never secrets or the values it sets itself', () => {
    const own = deployValues({ appid: 'wx_sandbox' } as SandboxSecrets, 'http://127.0.0.1:8787');
    const given = {
      FACE_API_VERSION: 'v1',
      WECHAT_APPSECRET: 'production-secret',
      ROSTER_ADMIN_OPENIDS: 'o_admin',
      WECHAT_API_BASE: 'https://api.weixin.qq.com',
      PII_ENC_KEYS_OLD: 'k0:production',
      WECHAT_APPID: 'wx_production',
      WXPAY_PRIVATE_KEY: 'production-key',
    };
    expect(outsideValues(given, own)).toEqual({
      values: { FACE_API_VERSION: 'v1', ROSTER_ADMIN_OPENIDS: 'o_admin' },
      ignored: ['WECHAT_APPSECRET', 'WECHAT_API_BASE', 'PII_ENC_KEYS_OLD', 'WECHAT_APPID', 'WXPAY_PRIVATE_KEY'],
    });
    // .env.deploy holds a real environment's values: a sandbox deploy reads only a file it is given.
    expect(envFileOf({ sandbox: 'http://127.0.0.1:8787' }, '/repo')).toBeUndefined();
    expect(envFileOf({ sandbox: 'http://127.0.0.1:8787', 'env-file': 'sandbox.env' }, '/repo')).toBe(
      '/repo/sandbox.env',
    );
    expect(envFileOf({}, '/repo')).toBe('/repo/.env.deploy');
  });

  it('checks the values as the functions will load them, naming variables and never values', () => {
    const { state, problems } = desiredState({
      values: {
        WECHAT_APPID: 'wx1234567890abcdef',
        WECHAT_APPSECRET: 'hunter2',
        ROSTER_DB_QPS: 'fast',
        NOT_A_VARIABLE: 'x',
      },
      functionsDir: path.join(ROOT, 'cloudfunctions'),
      only: ['roster', 'realname'],
    });
    expect(state.functions.map((f) => f.spec.name)).toEqual(['realname', 'roster']);
    expect(problems).toEqual(
      expect.arrayContaining([
        'values for variables the manifest does not declare: NOT_A_VARIABLE',
        expect.stringMatching(/^realname: WeChat API: WECHAT_APPSECRET must be the 32 hex characters/),
        expect.stringMatching(/^roster: roster settings: ROSTER_DB_QPS must be a whole number/),
        expect.stringMatching(/^roster: PII keys not configured: PII_ENC_KEY is missing/),
      ]),
    );
    expect(problems.join('\n')).not.toMatch(/hunter2|fast/);
    // Only the function's own variables, only those given a value.
    expect(state.functions.find((f) => f.spec.name === 'roster')!.env).toEqual({
      WECHAT_APPID: 'wx1234567890abcdef',
      ROSTER_DB_QPS: 'fast',
    });
    // The code digest is in the description, and the zip is what the build wrote.
    const roster = state.functions.find((f) => f.spec.name === 'roster')!;
    expect(roster.description).toMatch(/ \[code sha256:[0-9a-f]{16}\]$/);
    expect(roster.codeSha256.startsWith(/\[code sha256:([0-9a-f]{16})\]/.exec(roster.description)![1]!)).toBe(true);
  });

  it('prints calls with secrets masked and blobs summarised', () => {
    const line = describeCall(
      'scf',
      'CreateFunction',
      {
        FunctionName: 'face',
        Environment: {
          Variables: [
            { Key: 'WECHAT_APPID', Value: 'wx1234567890abcdef' },
            { Key: 'WECHAT_APPSECRET', Value: 'abcdef0123456789abcdef0123456789' },
          ],
        },
        Code: { ZipFile: 'x'.repeat(5000) },
      },
      SECRET_VARIABLES,
    );
    expect(line).toContain('"Key":"WECHAT_APPID","Value":"wx1234567890abcdef"');
    expect(line).toContain('"Key":"WECHAT_APPSECRET","Value":"<secret, 32 characters>"');
    expect(line).toContain('"ZipFile":"<5000 characters>"');
    expect(line).not.toContain('abcdef0123456789abcdef0123456789');
  });

  it('lists the manual steps from the manifest for a team without API keys', () => {
    const steps = manualSteps('prod-1a2b').join('\n');
    expect(steps).toContain('云开发控制台 (env prod-1a2b)');
    expect(steps).toMatch(/face: create with runtime Nodejs20\.19 .*timeout 20 s, memory 256 MB/);
    expect(steps).toContain(
      'face_sessions: 数据权限 ADMINONLY (仅管理端可读写); 索引 verify_key: verifyKey 升序，唯一',
    );
    expect(steps).toContain('Storage (存储 → 权限设置): PRIVATE');
  });
});

describe('deploy: the order of the steps, and a check that only reads', () => {
  /**
   * An environment where every collection exists without indexes, under the platform's default
   * permission, each holding two documents a client wrote: the answers a real one would give.
   */
  function recordingApi(): { api: CloudApi; calls: string[] } {
    const calls: string[] = [];
    const clientWritten = new Map(COLLECTIONS.map((c) => [c.name, 2]));
    const api: CloudApi = {
      call(_service, action, params: Params) {
        const command = (params.MgoCommands as { TableName: string; CommandType: string }[] | undefined)?.[0];
        calls.push(
          `${action}${command ? ` ${command.CommandType}` : ''} ${String(params.TableName ?? params.Resource ?? command?.TableName ?? '')}`.trim(),
        );
        if (action === 'DescribeEnvInfo') {
          return Promise.resolve({
            EnvInfo: {
              EnvBaseInfo: { EnvId: 'env-1', Databases: [{ InstanceId: 'db' }], Storages: [{ Bucket: 'b' }] },
            },
          });
        }
        if (action === 'DescribeTable') return Promise.resolve({ Indexes: [] });
        if (action === 'DescribeResourcePermission') {
          return Promise.resolve({
            Data: { PermissionList: COLLECTIONS.map((c) => ({ Resource: c.name, Permission: 'READONLY' })) },
          });
        }
        if (action === 'DescribeStorageSafeRule') return Promise.resolve({ AclTag: 'READONLY' });
        if (action === 'RunCommands') {
          const n = clientWritten.get(command!.TableName)!;
          if (command!.CommandType === 'DELETE') clientWritten.set(command!.TableName, 0);
          return Promise.resolve({ Data: [JSON.stringify({ n, ok: 1 })] });
        }
        if (action === 'UpdateTable' && clientWritten.get(String(params.TableName))) {
          return Promise.reject(new Error(`duplicate key in ${String(params.TableName)}`));
        }
        return Promise.resolve({});
      },
    };
    return { api, calls };
  }
  const state = { functions: [], collections: COLLECTIONS };

  it('closes every rule before anything else, and removes client-written documents before building indexes', async () => {
    const { api, calls } = recordingApi();
    const log: string[] = [];
    await applyState(api, state, { envId: 'env-1', log: (line) => log.push(line) });
    const firstIndex = calls.findIndex((c) => c.startsWith('UpdateTable'));
    const lastRule = Math.max(...calls.map((c, i) => (/^Modify(ResourcePermission|StorageSafeRule)/.test(c) ? i : -1)));
    expect(calls.filter((c) => c.startsWith('ModifyResourcePermission'))).toHaveLength(COLLECTIONS.length);
    expect(calls).toContain('ModifyStorageSafeRule');
    expect(lastRule).toBeLessThan(firstIndex);
    for (const spec of COLLECTIONS) {
      const removed = calls.indexOf(`RunCommands DELETE ${spec.name}`);
      expect(removed).toBeGreaterThan(lastRule);
      const indexed = calls.indexOf(`UpdateTable ${spec.name}`);
      if (spec.indexes.length) expect(indexed).toBeGreaterThan(removed);
      expect(log).toContain(`  ${spec.name}: removed 2 client-written documents`);
    }
  });

  it('--check makes read calls only, and counts client-written documents as drift', async () => {
    const { api, calls } = recordingApi();
    const drift = await checkState(api, state, 'env-1');
    expect(calls.every((c) => /^(Describe\w+|RunCommands QUERY)\b/.test(c))).toBe(true);
    expect(drift).toContain(
      'collection face_sessions: 2 client-written documents (with _openid; a deploy removes them)',
    );
    const writes: string[] = [];
    const guarded = readOnlyApi({
      call: (_service, action) => {
        writes.push(action);
        return Promise.resolve({});
      },
    });
    await expect(guarded.call('tcb', 'ModifyStorageSafeRule', {})).rejects.toThrow(/a check only reads/);
    await expect(
      guarded.call('tcb', 'RunCommands', { MgoCommands: [{ CommandType: 'DELETE', TableName: 'a', Command: '{}' }] }),
    ).rejects.toThrow(/a check only reads/);
    await guarded.call('tcb', 'RunCommands', {
      MgoCommands: [{ CommandType: 'QUERY', TableName: 'a', Command: '{}' }],
    });
    expect(writes).toEqual(['RunCommands']);
  });
});

it('ROOT is this repository', () => {
  expect(fs.existsSync(path.join(ROOT, 'project.config.json'))).toBe(true);
});
