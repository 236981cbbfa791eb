/**
 * The deploy scripts' pure parts, in-process: arguments, configuration problems, the upload key's
 * temp file, package sizes, function folder checks, and the database setup plan.
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
import { consoleSteps, createCollections, isAlreadyExists } from '../../../scripts/setup';
import type { CollectionSpec } from '../../../server/manifest';
import type { FunctionSpec } from '../../../server/manifest';

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

  it('flags a client that calls another env than CLOUD_ENV, a bad robot, and sandbox mode on preview as a warning', () => {
    const dir = project('wx1234567890abcdef', { mode: 'sandbox', envId: 'prod-1a2b' });
    const config = resolveConfig(dir, { CLOUD_ENV: 'test-9z', MP_ROBOT: '31' }, { client: 'preview' });
    expect(config.problems).toEqual([
      expect.stringContaining('MP_ROBOT="31": set a robot number from 1 to 30'),
      expect.stringContaining('CLOUD_ENV=test-9z but the client calls envId "prod-1a2b"'),
    ]);
    expect(config.warnings).toEqual([expect.stringContaining('mode is "sandbox"')]);
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
  const pkg = JSON.stringify({ main: 'index.js', dependencies: { 'wx-server-sdk': '4.0.2' } });
  const config = JSON.stringify({ permissions: { openapi: [] }, triggers: [] });

  it('passes a folder like `npm run build` writes', () => {
    const dir = folder({ 'index.js': 'exports.main = async () => 1;', 'package.json': pkg, 'config.json': config });
    expect(checkFunctionDir(dir, spec, '4.0.2')).toMatchObject({ files: 3, errors: [] });
  });

  it('names every defect: no main, a foreign runtime require, extra dependencies, drifted triggers', () => {
    const dir = folder({
      'index.js': "require('left-pad'); exports.handler = 1;",
      'package.json': JSON.stringify({ dependencies: { 'wx-server-sdk': '4.0.2', lodash: '4.17.21' } }),
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
    // Loads here (a local node_modules), but the cloud installs only wx-server-sdk.
    fs.mkdirSync(path.join(dir, 'node_modules/fake-dep'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node_modules/fake-dep/index.js'), 'module.exports = 1;');
    fs.writeFileSync(path.join(dir, 'index.js'), "require('fake-dep'); exports.main = async () => 1;");
    expect(checkFunctionDir(dir, spec, '4.0.2').errors[0]).toBe(
      'index.js requires fake-dep at load; the cloud installs only wx-server-sdk@4.0.2',
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

describe('setup', () => {
  const specs: CollectionSpec[] = [
    { name: 'a', description: '', pii: false, indexes: [{ name: 'k', keys: { k: 1, t: -1 }, unique: true }] },
    { name: 'b', description: '', pii: false, indexes: [] },
    { name: 'c', description: '', pii: false, indexes: [] },
  ];

  it('creates what is missing, counts "already exists" as done, reports other failures', async () => {
    const db = {
      async createCollection(name: string) {
        if (name === 'b')
          throw { code: 'DATABASE_COLLECTION_ALREADY_EXIST', errMsg: 'createCollection:fail Table exist: b' };
        if (name === 'c') throw { errCode: -501001, errMsg: 'createCollection:fail resource system error' };
        return { errMsg: 'createCollection:ok' };
      },
    };
    expect(await createCollections(db, specs)).toEqual([
      { name: 'a', status: 'created' },
      { name: 'b', status: 'exists' },
      { name: 'c', status: 'failed', error: 'createCollection:fail resource system error' },
    ]);
    expect(isAlreadyExists(new Error('anything else'))).toBe(false);
  });

  it('prints console steps for indexes (unique, direction) and the rule to paste', () => {
    const steps = consoleSteps(specs, 'prod-1a2b', { read: false, write: false }).join('\n');
    expect(steps).toContain('云开发控制台 (env prod-1a2b)');
    expect(steps).toContain('索引管理 → 添加索引: name "k", 唯一 (unique), k 升序 (1) + t 降序 (-1)');
    expect(steps.match(/自定义安全规则 → paste: \{"read":false,"write":false\}/g)).toHaveLength(3);
  });
});

it('ROOT is this repository', () => {
  expect(fs.existsSync(path.join(ROOT, 'project.config.json'))).toBe(true);
});
