/**
 * The deploy scripts, spawned exactly as `npm run <script> -- ...` runs them (so their
 * process.exit works). WeChat is unreachable here: every run is a dry run, or a real run that must
 * stop before any network call (checked with a preloaded guard that records every connection).
 * The deploys to a sandbox call the same `main` in this process (see deployInProcess). The upload
 * and preview dry runs (the official compiler): deploy-upload.test.ts, deploy-upload-failures.test.ts.
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';
import util from 'util';
import type { Sandbox } from '../../sandbox';
import { freshSandbox } from '../helpers/sandbox';
import {
  appid,
  expectExit,
  keyBody,
  networkAttempts,
  newKey,
  removeScratch,
  ROOT,
  run,
  scratch,
  type Run,
} from '../helpers/deploy-runs';
import { COLLECTIONS, FUNCTIONS } from '../../server/manifest';
import { sandboxApi } from '../../scripts/lib/sandbox-deploy';
import { zip } from '../../scripts/lib/zip';

jest.setTimeout(300_000);

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

let sandbox: Sandbox | undefined;
afterAll(async () => {
  await sandbox?.stop();
  removeScratch();
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

describe('the network', () => {
  it('no run above (dry runs, refused real runs) attempted a DNS lookup or a connection', () => {
    expect(networkAttempts()).toBe('');
  });
});
