/**
 * miniprogram-ci helpers shared by compile, preview and upload: the project from
 * project.config.json, an offline-capable `attr()`, and the official compiler's result sized.
 */
import crypto from 'crypto';
import fs from 'fs';
import path from 'path';

export const ROOT = path.resolve(__dirname, '../..');
export const TMP = path.join(ROOT, '.tmp');

type Ci = typeof import('miniprogram-ci');
export type CiProject = InstanceType<Ci['Project']>;

export function loadCi(): Ci {
  return quietly(() => require('miniprogram-ci') as Ci);
}

export interface ProjectConfig {
  appid: string;
  miniprogramRoot: string;
  cloudfunctionRoot: string;
  setting: Record<string, unknown>;
}

/** project.config.json of `projectDir` (default: this repository). */
export function readProjectConfig(projectDir = ROOT): ProjectConfig {
  return JSON.parse(fs.readFileSync(path.join(projectDir, 'project.config.json'), 'utf8')) as ProjectConfig;
}

/** Compiler settings for getCompiledResult, upload and preview: project.config.json's `setting` over defaults. */
export function compileSettings(config: ProjectConfig): Record<string, unknown> {
  return { es6: true, minify: true, minifyWXML: true, minifyWXSS: true, ...config.setting };
}

/** A throwaway key for local compiles (the compiler wants one; it is never sent anywhere). */
export function throwawayKey(dir = TMP): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, 'private.compile-only.key');
  if (!fs.existsSync(file)) {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 });
    // Written aside, then renamed into place: runs started together (compile, upload and preview dry
    // runs) never read a half-written key; whichever rename lands last wins, both keys are whole.
    const aside = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
    fs.writeFileSync(aside, privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    fs.renameSync(aside, file);
  }
  return file;
}

/**
 * A ci.Project for this repository. With `offline`, the project answers its own attributes
 * (miniprogram-ci's defaults) instead of fetching them from WeChat, so the compiler runs locally.
 * Create it after the npm build: a Project snapshots the file list when created.
 */
export function createProject(
  ci: Ci,
  options: { privateKeyPath: string; offline: boolean; projectDir?: string; upload?: boolean },
): CiProject {
  const projectDir = options.projectDir ?? ROOT;
  const config = readProjectConfig(projectDir);
  const project = new ci.Project({
    appid: config.appid,
    type: 'miniProgram',
    projectPath: projectDir,
    privateKeyPath: options.privateKeyPath,
    ignores: [
      'node_modules/**/*',
      'server/**/*',
      'sandbox/**/*',
      'test/**/*',
      'scripts/**/*',
      '.tmp/**/*',
      '.sandbox/**/*',
      // The address and token `npm start` writes for the client: a phone preview needs it, an upload never.
      ...(options.upload ? ['miniprogram/sandbox-session.js'] : []),
    ],
  });
  if (options.offline) {
    const { DefaultProjectAttr } = require('miniprogram-ci/dist/config/config.js') as { DefaultProjectAttr: unknown };
    (project as unknown as { attr: () => Promise<unknown> }).attr = async () => DefaultProjectAttr;
    useBuiltinWhiteExtList();
  }
  return project;
}

/**
 * Offline only: the compiler's list of allowed file extensions from miniprogram-ci's built-in
 * copy, the same list it falls back to when fetching it from servicewechat.com fails. Without
 * this an offline compile still makes that one network attempt (and logs an ENOTFOUND).
 */
function useBuiltinWhiteExtList(): void {
  const mod = require('miniprogram-ci/dist/utils/white_ext_list.js') as {
    getWhiteExtList?: unknown;
    MiniProgramWhiteList?: string[];
    GameWhiteList?: string[];
  };
  const { MiniProgramWhiteList, GameWhiteList } = mod;
  if (typeof mod.getWhiteExtList !== 'function' || !MiniProgramWhiteList || !GameWhiteList) return;
  mod.getWhiteExtList = async () => ({
    MiniProgramWhiteList: new Set(MiniProgramWhiteList),
    GameWhiteList: new Set(GameWhiteList),
  });
}

export interface CompiledSize {
  files: number;
  bytes: number;
  /** Main-package files by size, largest first. */
  largest: { file: string; bytes: number }[];
  /** Every compiled file (path relative to miniprogramRoot), largest first. */
  entries: { file: string; bytes: number }[];
  /** Answered by a compile of the same inputs before (`cachedSizes`), not a new one. */
  reused: boolean;
}

/** What miniprogram-ci itself prints on stdout while it works: its own progress, not the user's business. */
const CI_NOISE = /^(\[miniprogram-builder\]|\[summer-compiler\]|serialize )/;

/** Runs `work` with output chunks that are miniprogram-ci's progress lines dropped (stdout and stderr). */
function quietly<T>(work: () => T): T {
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((stream) => stream.write);
  streams.forEach((stream, i) => {
    const write = writes[i]!;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]): boolean {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
      if (CI_NOISE.test(text)) {
        const callback = rest.find((arg): arg is () => void => typeof arg === 'function');
        if (callback) process.nextTick(callback);
        return true;
      }
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof stream.write;
  });
  const restore = () => streams.forEach((stream, i) => (stream.write = writes[i]!));
  try {
    const result = work();
    if (result instanceof Promise) return result.finally(restore) as T;
    restore();
    return result;
  } catch (err) {
    restore();
    throw err;
  }
}

/**
 * Runs `work` with miniprogram-ci's own announcements ("[miniprogram-builder] initservices CI",
 * "[summer-compiler] forkProcess …") kept off stdout. Everything else is printed as usual.
 */
export async function withoutBuilderNoise<T>(work: () => T | Promise<T>): Promise<T> {
  return quietly(async () => work());
}

/** Where miniprogram-ci runs: its compiler makes a cache folder in the working directory. */
export const CI_WORK_DIR = path.join(TMP, 'miniprogram-ci');

/**
 * Runs `work` (a miniprogram-ci call that compiles: getCompiledResult, upload, preview) with the
 * working directory in .tmp/miniprogram-ci/: miniprogram-ci 2.1.42's compiler creates its cache
 * folder, named md5(`<projectPath>|summer`), relative to the working directory
 * (dist/modules/createSummer.js `ensureCacheDir`: `path.join("", generateMD5(…))`), which would
 * otherwise litter the project root with an empty 32-hex folder.
 */
export async function inCiWorkDir<T>(work: () => Promise<T>): Promise<T> {
  fs.mkdirSync(CI_WORK_DIR, { recursive: true });
  const cwd = process.cwd();
  process.chdir(CI_WORK_DIR);
  try {
    return await withoutBuilderNoise(work);
  } finally {
    process.chdir(cwd);
  }
}

/**
 * miniprogram-ci forks its compiler and gives the child a fixed 20 s to report ready
 * (dist/utils/subprocess/processService.js PROCESS_READY_TIMEOUT), failing with "fork process
 * timeout" otherwise: on a busy machine (a load of 10 on 2 cores) that is a slow start, not a
 * compile error. Such a start is tried again, up to 3 times in all; any other error is answered as is.
 */
export async function withForkRetries<T>(work: () => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (err) {
      if (attempt >= attempts || (err as Error | undefined)?.message !== 'fork process timeout') throw err;
    }
  }
}

/** Compile results kept by `compileKey` (sizes only, never code): .tmp/compiled/<key>.json. */
export const COMPILE_CACHE_DIR = path.join(TMP, 'compiled');
/** How many results the cache keeps (the newest). */
const COMPILE_CACHE_KEEP = 8;

/** The part of a ci.Project that decides what the compiler reads. */
export type CompileInputs = Pick<CiProject, 'appid' | 'projectPath' | 'miniprogramRoot' | 'getFilesAndDirs'>;

/**
 * A hash of everything a compile of `project` reads: every file of the project's own list (its
 * ignores applied) under miniprogramRoot (all of them when that is the project folder itself or
 * outside it), project.config.json and project.private.config.json, each by content; the project's
 * appid and path, the compile settings, the miniprogram-ci and Node versions. The compiler of
 * miniprogram-ci 2.1.42 reads no other file (no tsconfig: its TypeScript plugin only strips types).
 * Equal keys, equal offline compiles: its result can stand for a new one.
 */
export function compileKey(project: CompileInputs, settings: Record<string, unknown>): string {
  const root = path.posix.normalize(`${project.miniprogramRoot || '.'}/`).replace(/^\.\/$/, '');
  const whole = root === '' || root === '/' || root.startsWith('../') || root.startsWith('/');
  const files = project
    .getFilesAndDirs()
    .files.filter((f) => whole || f.startsWith(root) || /^project(\.private)?\.config\.json$/.test(f))
    .sort();
  const hash = crypto.createHash('sha256');
  const ciVersion = (require('miniprogram-ci/package.json') as { version: string }).version;
  hash.update(
    JSON.stringify({
      ciVersion,
      node: process.version,
      appid: project.appid,
      path: project.projectPath,
      root,
      settings,
    }),
  );
  for (const file of files) {
    hash.update(`\0${file}\0`);
    hash.update(
      crypto
        .createHash('sha256')
        .update(fs.readFileSync(path.join(project.projectPath, file)))
        .digest(),
    );
  }
  return hash.digest('hex');
}

/** A kept result's file name: the key; written aside under `<key>.json.<pid>.<random>` first. */
const KEPT = /^[0-9a-f]{64}\.json$/;
const ASIDE = /^[0-9a-f]{64}\.json\.\d+\.[0-9a-f]{8}$/;

/**
 * `compile()`'s sizes, or those a compile of the same inputs (`key`) answered before: a dry run
 * after `npm run compile` (or the npm test run's several dry runs) compiles once. Only sizes are
 * kept, only of a compile whose inputs did not change while it ran (`keyAfter()` still `key`), never
 * of a failed one. Keeping is best-effort: a full disk or a run pruning at the same time never turns
 * a good compile into a failure. Written aside and renamed, so runs at once never read half a result.
 */
export async function cachedSizes(
  key: string,
  compile: () => Promise<CompiledSize['entries']>,
  options: { dir?: string; keyAfter?: () => string } = {},
): Promise<{ entries: CompiledSize['entries']; reused: boolean }> {
  const dir = options.dir ?? COMPILE_CACHE_DIR;
  const file = path.join(dir, `${key}.json`);
  try {
    const kept = JSON.parse(fs.readFileSync(file, 'utf8')) as { entries?: unknown };
    if (Array.isArray(kept.entries) && kept.entries.length > 0 && kept.entries.every(isSizeEntry)) {
      fs.utimesSync(file, new Date(), new Date());
      return { entries: kept.entries, reused: true };
    }
  } catch {
    // Not kept (or unreadable): compile.
  }
  const entries = await compile();
  try {
    if (entries.length > 0 && (options.keyAfter?.() ?? key) === key) keep(dir, file, entries);
  } catch {
    // Not kept: the next run compiles again.
  }
  return { entries, reused: false };
}

function keep(dir: string, file: string, entries: CompiledSize['entries']): void {
  fs.mkdirSync(dir, { recursive: true });
  const aside = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`;
  fs.writeFileSync(aside, JSON.stringify({ entries }));
  fs.renameSync(aside, file);
  const now = Date.now();
  const listed = fs
    .readdirSync(dir)
    .map((name) => ({ name, at: fs.statSync(path.join(dir, name), { throwIfNoEntry: false })?.mtimeMs }))
    .filter((e): e is { name: string; at: number } => e.at !== undefined);
  const kept = listed.filter((e) => KEPT.test(e.name)).sort((x, y) => y.at - x.at);
  // The newest results, and no file a crashed run left aside for more than an hour.
  const stale = [
    ...kept.slice(COMPILE_CACHE_KEEP),
    ...listed.filter((e) => ASIDE.test(e.name) && now - e.at > 3600_000),
  ];
  for (const old of stale) fs.rmSync(path.join(dir, old.name), { force: true });
}

function isSizeEntry(value: unknown): value is { file: string; bytes: number } {
  const entry = value as { file?: unknown; bytes?: unknown } | null;
  return typeof entry?.file === 'string' && Number.isSafeInteger(entry.bytes) && (entry.bytes as number) >= 0;
}

/**
 * Compiles with the official compiler (getCompiledResult) and sizes the result. With `reuse` (an
 * offline compile: `npm run compile`, the dry runs), a compile of the same inputs before
 * (`compileKey`) answers instead (`reused`); a real upload or preview, whose project attributes come
 * from WeChat, always compiles.
 */
export async function compileAndMeasure(
  ci: Ci,
  project: CiProject,
  options: { reuse: boolean },
): Promise<CompiledSize> {
  const config = readProjectConfig(project.projectPath);
  const settings = compileSettings(config);
  const compile = async () => {
    const result = await withForkRetries(() =>
      inCiWorkDir(() => ci.getCompiledResult({ project, version: '0.0.0', setting: settings as never })),
    );
    return Object.entries(result).map(([file, content]) => ({
      file,
      bytes: typeof content === 'string' ? Buffer.byteLength(content) : content.length,
    }));
  };
  const key = () => compileKey(project, settings);
  const { entries, reused } = options.reuse
    ? await cachedSizes(key(), compile, { keyAfter: key })
    : { entries: await compile(), reused: false };
  entries.sort((a, b) => b.bytes - a.bytes);
  return {
    files: entries.length,
    bytes: entries.reduce((sum, e) => sum + e.bytes, 0),
    largest: entries.slice(0, 10),
    entries,
    reused,
  };
}
