/**
 * `npm run upload -- --dry-run` and `npm run preview -- --dry-run` on this project: the npm build,
 * the official compiler (once: the preview and a run over the size budget reuse the upload's compile
 * of the same inputs), the listing and the call each would make, without any network (checked with the preloaded guard of
 * test/helpers/deploy-runs.ts). The failing runs on project copies and the upload key:
 * deploy-upload-failures.test.ts.
 */
import fs from 'fs';
import path from 'path';
import util from 'util';
import { execFileSync } from 'child_process';
import {
  appid,
  expectExit,
  networkAttempts,
  PLACEHOLDER_APPID,
  removeScratch,
  ROOT,
  run,
  TMP,
  version,
  type Run,
} from '../helpers/deploy-runs';
import { COMPILE_CACHE_DIR } from '../../scripts/lib/ci-project';
import { REUSED_NOTE } from '../../scripts/lib/deploy';

// Each dry run packs three npm builds (the main package and each subpackage) before it compiles.
jest.setTimeout(300_000);

let gitSubject: string;
try {
  gitSubject = execFileSync('git', ['log', '-1', '--format=%s'], { cwd: ROOT }).toString().trim();
} catch {
  gitSubject = `v${version}`;
}

// The long runs one after the other: each npm-builds into miniprogram/, and a compile forks the
// official compiler, which must report ready within miniprogram-ci's fixed 20 s (more at once on a
// loaded machine risks that). The upload compiles; the preview and the run over budget, of the same
// inputs, reuse its result. The failing runs on project copies: deploy-upload-failures.test.ts.
let runs: { upload: Promise<Run>; preview: Promise<Run>; overBudget: Promise<Run> };

beforeAll(() => {
  // No compile kept from before: the upload dry run compiles this project for real; the preview,
  // of the same inputs, may answer with its result (scripts/lib/ci-project.ts cachedSizes).
  for (const name of fs.existsSync(COMPILE_CACHE_DIR) ? fs.readdirSync(COMPILE_CACHE_DIR) : []) {
    fs.rmSync(path.join(COMPILE_CACHE_DIR, name), { force: true });
  }
  const upload = run('upload', ['--dry-run']);
  const preview = upload.then(() => run('preview', ['--dry-run']));
  runs = { upload, preview, overBudget: preview.then(() => run('upload', ['--dry-run', '--budget', '1'])) };
});

afterAll(async () => {
  await Promise.allSettled(Object.values(runs ?? {}));
  removeScratch();
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
    expect(r.out).not.toContain(REUSED_NOTE);
    expect(r.out).toContain('upload key: none set: throwaway compile-only key (dry run)');
    expect(r.out).toContain('dry run: stopped before the network. upload would call:');
    expect(r.out).toContain(`ci.upload({\n  project: <ci.Project(appid ${appid}, ${ROOT})>,`);
    expect(r.out).toContain(`version: '${version}'`);
    expect(r.out).toContain(`desc: ${util.inspect(gitSubject)},`);
    expect(r.out).toContain('robot: 1,');
    expect(r.out).toContain('ignoreUploadUnusedFiles: true');
  });

  it('fails over the size budget (--budget 1 KB) after listing what it measured', async () => {
    const r = await runs.overBudget;
    expectExit(r, 1);
    expectListing(r.out.replace('of budget 1.0 KB', 'of budget 2048.0 KB'));
    expect(r.out).toContain(`compiled by the official compiler${REUSED_NOTE}`);
    expect(r.stderr).toMatch(/error: main package is \d+ bytes \([\d.]+ KB\), budget 1024 bytes \(1\.0 KB\)/);
    expect(r.out).not.toContain('would call');
  });

  it('leaves no compiler cache folder (an empty md5-named one) in the project: it goes to .tmp/miniprogram-ci/', async () => {
    await runs.upload;
    expect(fs.readdirSync(ROOT).filter((name) => /^[0-9a-f]{32}$/.test(name))).toEqual([]);
  });
});

describe('npm run preview -- --dry-run', () => {
  it('prints the ci.preview call with the QR code written to .tmp/preview-qrcode.png', async () => {
    const r = await runs.preview;
    expectExit(r, 0);
    expectListing(r.out);
    // Its inputs are the upload's unless `npm start` left the client's sandbox session file in the
    // project (a preview takes it to the phone, an upload leaves it out).
    if (fs.existsSync(path.join(ROOT, 'miniprogram/sandbox-session.js'))) expect(r.out).not.toContain(REUSED_NOTE);
    else expect(r.out).toContain(`compiled by the official compiler${REUSED_NOTE}`);
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
