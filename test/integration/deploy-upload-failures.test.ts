/**
 * `npm run upload` runs that must fail, each with one clear message: invalid WXML (the official
 * compiler's), no upload key, the placeholder appid; and the upload key itself (a 0600 file,
 * removed, never printed). No run reaches for the network (the preloaded guard of
 * test/helpers/deploy-runs.ts). The passing dry runs and the one over the size budget:
 * deploy-upload.test.ts.
 */
import { execFileSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import {
  copyProject,
  editJson,
  expectExit,
  filesUnder,
  guard,
  KEY_FILE,
  keyBody,
  networkAttempts,
  newKey,
  newKeyFiles,
  PLACEHOLDER_APPID,
  readIfThere,
  removeScratch,
  ROOT,
  run,
  scratch,
  TMP,
  type Run,
} from '../helpers/deploy-runs';

// Each dry run packs three npm builds (the main package and each subpackage) before it compiles.
jest.setTimeout(300_000);

// The long run, on a copy of the project with a page the compiler refuses.
const brokenKey = newKey();
let runs: { broken: Promise<Run> };

beforeAll(() => {
  const broken = copyProject('broken-wxml', (dir) => {
    const page = path.join(dir, 'miniprogram/pages/broken');
    fs.mkdirSync(page, { recursive: true });
    fs.writeFileSync(path.join(page, 'index.wxml'), '<view>{{ name </view>\n<view class="x"\n');
    fs.writeFileSync(path.join(page, 'index.ts'), 'Component({});\n');
    fs.writeFileSync(path.join(page, 'index.json'), '{ "component": true, "usingComponents": {} }\n');
    editJson(path.join(dir, 'miniprogram/app.json'), (app) => (app.pages as string[]).push('pages/broken/index'));
  });
  runs = { broken: run('upload', ['--dry-run', '--project', broken], { MP_PRIVATE_KEY: brokenKey }) };
});

afterAll(async () => {
  await Promise.allSettled(Object.values(runs ?? {}));
  removeScratch();
});

describe('npm run upload -- --dry-run', () => {
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

describe('the network', () => {
  it('no run above (dry runs, refused real runs) attempted a DNS lookup or a connection', async () => {
    await Promise.all(Object.values(runs));
    expect(networkAttempts()).toBe('');
  });
});
