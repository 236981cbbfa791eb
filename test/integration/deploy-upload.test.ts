/**
 * `npm run upload -- --dry-run` and `npm run preview -- --dry-run` on this project: the npm build,
 * the official compiler, the listing and the call each would make, without any network (checked
 * with the preloaded guard of test/helpers/deploy-runs.ts). The failing runs on project copies and
 * the upload key: deploy-upload-failures.test.ts.
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

// Each dry run packs three npm builds (the main package and each subpackage) before it compiles.
jest.setTimeout(300_000);

let gitSubject: string;
try {
  gitSubject = execFileSync('git', ['log', '-1', '--format=%s'], { cwd: ROOT }).toString().trim();
} catch {
  gitSubject = `v${version}`;
}

// The two long runs one after the other: both npm-build into miniprogram/, and each forks the
// official compiler, which must report ready within miniprogram-ci's fixed 20 s (more at once on a
// loaded machine risks that). The failing runs on project copies: deploy-upload-failures.test.ts.
let runs: { upload: Promise<Run>; preview: Promise<Run> };

beforeAll(() => {
  const upload = run('upload', ['--dry-run']);
  runs = { upload, preview: upload.then(() => run('preview', ['--dry-run'])) };
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
});

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
