/**
 * The throwaway compile key is shared by dry runs started together (upload, preview, compile): it
 * must never be seen half-written (a run reading it mid-write failed its compile under load). The
 * compile cache answers a compile of the same inputs, and only of the same inputs.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import {
  cachedSizes,
  compileKey,
  compileSettings,
  createProject,
  loadCi,
  throwawayKey,
  withForkRetries,
} from '../../../scripts/lib/ci-project';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ci-project-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it('writes the key aside and renames it into place: the key path only ever holds a whole key', () => {
  const write = jest.spyOn(fs, 'writeFileSync');
  const rename = jest.spyOn(fs, 'renameSync');
  try {
    const file = throwawayKey(dir);
    expect(file).toBe(path.join(dir, 'private.compile-only.key'));
    expect(write.mock.calls.map(([target]) => String(target))).not.toContain(file);
    expect(rename).toHaveBeenCalledWith(expect.stringMatching(/private\.compile-only\.key\.\d+\.[0-9a-f]{8}$/), file);
    expect(fs.readFileSync(file, 'utf8')).toMatch(
      /^-----BEGIN RSA PRIVATE KEY-----\n[\s\S]+-----END RSA PRIVATE KEY-----\n?$/,
    );
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['private.compile-only.key']);
  } finally {
    write.mockRestore();
    rename.mockRestore();
  }
});

it('keeps an existing key', () => {
  const file = throwawayKey(dir);
  const before = fs.readFileSync(file, 'utf8');
  expect(throwawayKey(dir)).toBe(file);
  expect(fs.readFileSync(file, 'utf8')).toBe(before);
});

describe('withForkRetries', () => {
  const timeout = () => new Error('fork process timeout');

  it('tries a compile whose compiler process was slow to start again, and answers its result', async () => {
    const work = jest.fn().mockRejectedValueOnce(timeout()).mockResolvedValueOnce('compiled');
    await expect(withForkRetries(work)).resolves.toBe('compiled');
    expect(work).toHaveBeenCalledTimes(2);
  });

  it('gives up after 3 attempts with the last error', async () => {
    const work = jest.fn().mockImplementation(() => Promise.reject(timeout()));
    await expect(withForkRetries(work)).rejects.toThrow('fork process timeout');
    expect(work).toHaveBeenCalledTimes(3);
  });

  it('answers any other error at once (a compile error is not retried)', async () => {
    const work = jest.fn().mockRejectedValue(new Error('pages/x/index.wxml: 1:2: unexpected end'));
    await expect(withForkRetries(work)).rejects.toThrow('unexpected end');
    expect(work).toHaveBeenCalledTimes(1);
  });
});

describe('the compile cache (compileKey, cachedSizes)', () => {
  const settings = compileSettings({
    appid: 'wx1',
    miniprogramRoot: 'miniprogram/',
    cloudfunctionRoot: '',
    setting: {},
  });

  /**
   * A small project as ci.Project lists it (a Project snapshots its file list when created), without
   * miniprogram-ci's announcement when loaded ("[miniprogram-builder] initservices CI").
   */
  function project(dir: string) {
    const log = console.log;
    const spy = jest.spyOn(console, 'log').mockImplementation((...args: unknown[]) => {
      if (!/^\[miniprogram-builder\]/.test(String(args[0]))) log(...args);
    });
    try {
      return createProject(loadCi(), { privateKeyPath: throwawayKey(dir), offline: true, projectDir: dir });
    } finally {
      spy.mockRestore();
    }
  }
  function write(dir: string, file: string, text: string): void {
    fs.mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), text);
  }
  function newProject(name: string): string {
    const root = path.join(dir, name);
    write(root, 'project.config.json', JSON.stringify({ appid: 'wx1', miniprogramRoot: 'miniprogram/', setting: {} }));
    write(root, 'miniprogram/app.json', '{"pages":["pages/index/index"]}');
    write(root, 'miniprogram/pages/index/index.wxml', '<view>hi</view>');
    write(root, 'README.md', 'about');
    write(root, 'node_modules/x/index.js', 'ignored');
    return root;
  }

  it('changes with every input the compiler reads, and with nothing else', () => {
    const root = newProject('keyed');
    const key = () => compileKey(project(root), settings);
    const first = key();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(key()).toBe(first);
    // Outside miniprogramRoot, or ignored by the project: not an input.
    write(root, 'README.md', 'changed');
    write(root, 'node_modules/x/index.js', 'changed');
    write(root, 'test/a.test.ts', 'new');
    expect(key()).toBe(first);
    // A page's content, a new file, project.config.json, the settings: each an input.
    const seen = new Set([first]);
    const changed = (next: string) => {
      expect(seen.has(next)).toBe(false);
      seen.add(next);
    };
    write(root, 'miniprogram/pages/index/index.wxml', '<view>ho</view>');
    changed(key());
    write(root, 'miniprogram/pages/index/index.wxss', '.a{}');
    changed(key());
    write(
      root,
      'project.config.json',
      JSON.stringify({ appid: 'wx1', miniprogramRoot: 'miniprogram/', setting: { es6: false } }),
    );
    changed(key());
    changed(compileKey(project(root), { ...settings, minify: false }));
    // The same files in another folder: the path is an input too (source maps may name it).
    const copy = path.join(dir, 'keyed-copy');
    fs.cpSync(root, copy, { recursive: true });
    changed(compileKey(project(copy), settings));
  });

  it('compiles once, then answers the kept sizes for the same key', async () => {
    const cache = path.join(dir, 'cache-once');
    const compile = jest.fn(async () => [{ file: 'app.js', bytes: 10 }]);
    expect(await cachedSizes('a'.repeat(64), compile, { dir: cache })).toEqual({
      entries: [{ file: 'app.js', bytes: 10 }],
      reused: false,
    });
    expect(await cachedSizes('a'.repeat(64), compile, { dir: cache })).toEqual({
      entries: [{ file: 'app.js', bytes: 10 }],
      reused: true,
    });
    expect(compile).toHaveBeenCalledTimes(1);
    await cachedSizes('b'.repeat(64), compile, { dir: cache });
    expect(compile).toHaveBeenCalledTimes(2);
  });

  it('never keeps a failed compile, and compiles again over a kept file it cannot read', async () => {
    const cache = path.join(dir, 'cache-fail');
    const key = 'c'.repeat(64);
    await expect(
      cachedSizes(key, async () => Promise.reject(new Error('compile error')), { dir: cache }),
    ).rejects.toThrow('compile error');
    expect(fs.existsSync(path.join(cache, `${key}.json`))).toBe(false);
    fs.mkdirSync(cache, { recursive: true });
    for (const text of ['{"entries":[{"file":"a","bytes":-1}]}', '{"entries":', '{}', '{"entries":[]}']) {
      fs.writeFileSync(path.join(cache, `${key}.json`), text);
      const compile = jest.fn(async () => [{ file: 'app.js', bytes: 3 }]);
      expect(await cachedSizes(key, compile, { dir: cache })).toMatchObject({ reused: false });
      expect(compile).toHaveBeenCalledTimes(1);
    }
  });

  it('keeps the 8 newest results, each written aside and renamed into place', async () => {
    const cache = path.join(dir, 'cache-keep');
    const rename = jest.spyOn(fs, 'renameSync');
    try {
      for (let i = 0; i < 10; i += 1) {
        await cachedSizes(String(i).repeat(64), async () => [{ file: 'app.js', bytes: i }], { dir: cache });
        // Distinct modification times, oldest first, all in the past.
        const at = new Date(Date.now() - (10 - i) * 60_000);
        fs.utimesSync(path.join(cache, `${String(i).repeat(64)}.json`), at, at);
      }
      expect(rename).toHaveBeenCalledTimes(10);
      for (const [from, to] of rename.mock.calls)
        expect(String(from)).toMatch(new RegExp(`^${String(to)}\\.\\d+\\.[0-9a-f]{8}$`));
    } finally {
      rename.mockRestore();
    }
    // A file a crashed run left aside two hours ago goes too; one being written now stays.
    const crashed = path.join(cache, `${'e'.repeat(64)}.json.123.0a0b0c0d`);
    const writing = path.join(cache, `${'d'.repeat(64)}.json.124.0a0b0c0d`);
    fs.writeFileSync(crashed, '{');
    fs.utimesSync(crashed, new Date(Date.now() - 2 * 3600_000), new Date(Date.now() - 2 * 3600_000));
    fs.writeFileSync(writing, '{');
    await cachedSizes('f'.repeat(64), async () => [{ file: 'app.js', bytes: 1 }], { dir: cache });
    expect(fs.readdirSync(cache).sort()).toEqual(
      [
        ...['3', '4', '5', '6', '7', '8', '9'].map((c) => `${c.repeat(64)}.json`),
        path.basename(writing),
        `${'f'.repeat(64)}.json`,
      ].sort(),
    );
  });

  it('keeps nothing when the inputs changed while compiling, or of an empty result', async () => {
    const cache = path.join(dir, 'cache-changed');
    const key = '1'.repeat(64);
    const compile = jest.fn(async () => [{ file: 'app.js', bytes: 5 }]);
    expect(await cachedSizes(key, compile, { dir: cache, keyAfter: () => '2'.repeat(64) })).toMatchObject({
      reused: false,
    });
    expect(await cachedSizes(key, compile, { dir: cache, keyAfter: () => key })).toMatchObject({ reused: false });
    expect(await cachedSizes(key, compile, { dir: cache })).toMatchObject({ reused: true });
    expect(compile).toHaveBeenCalledTimes(2);
    await cachedSizes('3'.repeat(64), async () => [], { dir: cache });
    expect(fs.existsSync(path.join(cache, `${'3'.repeat(64)}.json`))).toBe(false);
  });

  it('a result that cannot be kept (the cache folder is a file) is still the answer', async () => {
    const blocked = path.join(dir, 'cache-blocked');
    fs.writeFileSync(blocked, 'not a folder');
    expect(await cachedSizes('4'.repeat(64), async () => [{ file: 'app.js', bytes: 7 }], { dir: blocked })).toEqual({
      entries: [{ file: 'app.js', bytes: 7 }],
      reused: false,
    });
  });

  it.each(['./', '', '.', '/'])(
    'miniprogramRoot %j (the project folder itself): every listed file is an input',
    (miniprogramRoot) => {
      const root = newProject(`root-${miniprogramRoot.replace(/\W/g, '_') || 'empty'}`);
      const list = project(root);
      const inputs = {
        appid: 'wx1',
        projectPath: root,
        miniprogramRoot,
        getFilesAndDirs: () => list.getFilesAndDirs(),
      };
      const key = () => compileKey(inputs, settings);
      const first = key();
      write(root, 'README.md', 'changed');
      expect(key()).not.toBe(first);
    },
  );
});
