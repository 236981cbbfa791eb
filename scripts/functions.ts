/**
 * `npm run functions`: builds the cloud functions (`npm run build` functions), checks every folder
 * against server/manifest/functions.ts, then uploads each with miniprogram-ci
 * (`ci.cloud.uploadFunction`, dependencies installed in the cloud) and creates its timer triggers
 * (`ci.cloud.createTimeTrigger`). `-- --dry-run` stops before the network and prints the calls.
 * Options: --only <name,...>. Environment: MP_PRIVATE_KEY_PATH or MP_PRIVATE_KEY, CLOUD_ENV.
 *
 * miniprogram-ci has no call for timeout, memory or environment variables (its `ci.cloud` is
 * uploadFunction, createTimeTrigger, uploadStorage, uploadStaticStorage, uploadContainer:
 * https://developers.weixin.qq.com/miniprogram/dev/devtools/ci.md), so this script prints what to
 * set in the console, from the manifest. Environment-variable values are never printed.
 */
import { execFileSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import { buildFunctions } from './build';
import { createProject, loadCi, ROOT } from './lib/ci-project';
import {
  formatCall,
  kb,
  parseArgs,
  reportProblems,
  resolveConfig,
  runScript,
  UsageError,
  withUploadKey,
} from './lib/deploy';
import { FUNCTIONS, SDK_VERSION, type FunctionSpec } from '../server/manifest';

const ARGS = { 'dry-run': 'flag', only: 'value' } as const;

/** Loads a built index.js in a separate Node process: what it exports and what it requires at load. */
const LOAD_CHECK = `
const Module = require('module');
const file = process.argv[1];
const requires = new Set();
const load = Module._load;
Module._load = function (request, parent) {
  if (parent && parent.filename === file && !Module.isBuiltin(request)) requires.add(request);
  return load.apply(this, arguments);
};
const mod = require(file);
process.stdout.write('\\n@@load-check@@' + JSON.stringify({ main: typeof mod.main, requires: [...requires] }) + '\\n');
process.exit(0);
`;

export interface FolderCheck {
  files: number;
  bytes: number;
  errors: string[];
}

/** Checks a built function folder: index.js exports main, package.json, config.json (triggers). */
export function checkFunctionDir(dir: string, spec: FunctionSpec, sdkVersion = SDK_VERSION): FolderCheck {
  const errors: string[] = [];
  const readJson = (name: string): Record<string, unknown> | undefined => {
    const file = path.join(dir, name);
    if (!fs.existsSync(file)) return void errors.push(`${name} is missing`);
    try {
      return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      return void errors.push(`${name} is not JSON: ${(err as Error).message}`);
    }
  };
  const index = path.join(dir, 'index.js');
  if (!fs.existsSync(index)) errors.push('index.js is missing');
  else errors.push(...checkIndex(index, sdkVersion));

  const pkg = readJson('package.json');
  if (pkg) {
    const deps = JSON.stringify(pkg.dependencies ?? {});
    if (deps !== '{}') errors.push(`package.json dependencies are ${deps}; expected none (they are bundled)`);
    const bundled = JSON.stringify(pkg.bundledDependencies ?? {});
    const want = JSON.stringify({ 'wx-server-sdk': sdkVersion });
    if (bundled !== want) errors.push(`package.json bundledDependencies are ${bundled}; expected ${want}`);
    if (pkg.main !== undefined && pkg.main !== 'index.js') errors.push(`package.json main is ${String(pkg.main)}`);
  }
  const config = readJson('config.json');
  if (config && JSON.stringify(config.triggers ?? []) !== JSON.stringify(spec.triggers)) {
    errors.push(`config.json triggers ${JSON.stringify(config.triggers)} differ from the manifest's`);
  }
  const { files, bytes } = folderSize(dir);
  return { files, bytes, errors };
}

function checkIndex(index: string, sdkVersion: string): string[] {
  let output: string;
  try {
    output = execFileSync(process.execPath, ['-e', LOAD_CHECK, index], {
      // A function's environment, minus its secrets: loading must not need them.
      env: { PATH: process.env.PATH ?? '', TENCENTCLOUD_RUNENV: 'SCF', TCB_ENV: 'load-check' },
      cwd: path.dirname(index),
      timeout: 30_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    }).toString();
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? '').trim();
    return [`index.js fails to load: ${stderr.split('\n').find((l) => /Error/.test(l)) ?? stderr.slice(0, 300)}`];
  }
  const line = output.split('\n').find((l) => l.startsWith('@@load-check@@'));
  if (!line) return ['index.js load check gave no result'];
  const result = JSON.parse(line.slice('@@load-check@@'.length)) as { main: string; requires: string[] };
  const errors: string[] = [];
  if (result.main !== 'function') errors.push(`index.js exports main as ${result.main}, not a function`);
  if (result.requires.length) {
    errors.push(
      `index.js requires ${result.requires.join(', ')} at load; the cloud installs nothing (wx-server-sdk@${sdkVersion} is bundled)`,
    );
  }
  return errors;
}

function folderSize(dir: string): { files: number; bytes: number } {
  let files = 0;
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || entry.parentPath.includes('node_modules')) continue;
    files += 1;
    bytes += fs.statSync(path.join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}

/** One line per variable: required/optional, secret, and set/missing here. Never the value. */
export function envVarStatus(spec: FunctionSpec, env: NodeJS.ProcessEnv): string[] {
  return spec.env.map((v) => {
    const tags = [v.required ? 'required' : 'optional', ...(v.secret ? ['secret'] : [])].join(', ');
    return `${v.name} (${tags}): ${env[v.name] ? 'set' : 'missing'}`;
  });
}

/** What must be set by hand in the console, generated from the manifest. */
export function consoleInstructions(specs: FunctionSpec[], env: string): string[] {
  const lines = [
    "miniprogram-ci cannot set a function's timeout, memory or environment variables. Set them once per",
    `environment in 云开发控制台 (env ${env}) → 云函数 → <name> → 版本与配置 → 编辑:`,
  ];
  for (const spec of specs) {
    const vars = spec.env.map((v) => {
      const tags = [...(v.secret ? ['secret'] : []), ...(v.required ? [] : ['optional'])];
      return tags.length ? `${v.name} (${tags.join(', ')})` : v.name;
    });
    lines.push(
      `  ${spec.name}: timeout ${spec.timeout} s, memory ${spec.memory} MB; env vars: ${vars.join(', ') || 'none'}`,
    );
  }
  lines.push(
    'A function that does not exist yet is created by miniprogram-ci 2.1.42 with runtime Nodejs8.9, 3 s, 256 MB and',
    'no env vars (dist/ci/cloud/uploadFunction.js). The bundles target Node 16: create each function once in the',
    'console (运行环境 Node.js 16 or later) before its first CI upload.',
  );
  return lines;
}

export async function main(argv: string[]): Promise<number> {
  return runScript(async () => {
    const args = parseArgs(argv, ARGS);
    const dryRun = args['dry-run'] === true;
    const only = args.only?.split(',').map((s) => s.trim());
    const unknown = only?.filter((name) => !FUNCTIONS.some((f) => f.name === name)) ?? [];
    if (unknown.length) throw new UsageError(`--only: no function ${unknown.join(', ')} in the manifest`);
    const specs = FUNCTIONS.filter((f) => !only || only.includes(f.name));
    const config = resolveConfig(ROOT, process.env, { key: !dryRun });
    console.log(`functions${dryRun ? ' (dry run)' : ''}: ${specs.map((s) => s.name).join(', ')} → env ${config.env}`);
    if (!reportProblems(config, dryRun)) return 2;

    return withUploadKey(process.env, dryRun, async (key) => {
      console.log(`  upload key: ${key.source}`);
      buildFunctions(specs.map((s) => s.name));
      const root = path.join(ROOT, config.project.cloudfunctionRoot);
      let failed = false;
      for (const spec of specs) {
        const dir = path.join(root, spec.name);
        const check = checkFunctionDir(dir, spec);
        const status = check.errors.length ? 'FAILED' : 'index.js exports main, package.json, config.json ok';
        console.log(`  ${spec.name}: ${path.relative(ROOT, dir)}/ ${check.files} files, ${kb(check.bytes)}: ${status}`);
        for (const error of check.errors) console.error(`error: ${spec.name}: ${error}`);
        failed ||= check.errors.length > 0;
        console.log(`    timeout ${spec.timeout} s, memory ${spec.memory} MB, triggers ${spec.triggers.length}`);
        for (const line of envVarStatus(spec, process.env)) console.log(`    ${line}`);
      }
      if (failed) return 1;

      const ci = loadCi();
      const project = createProject(ci, { privateKeyPath: key.path, offline: dryRun });
      const calls = specs.map((spec) => ({
        spec,
        upload: { env: config.env, name: spec.name, path: path.join(root, spec.name), remoteNpmInstall: true },
      }));
      if (dryRun) console.log('dry run: stopped before the network. Would call:');
      for (const { spec, upload } of calls) {
        const trigger = { envId: config.env, functionName: spec.name, triggersConfig: spec.triggers };
        if (dryRun) {
          console.log(formatCall('ci.cloud.uploadFunction', upload, project));
          if (spec.triggers.length) console.log(formatCall('ci.cloud.createTimeTrigger', trigger, project));
          continue;
        }
        const result = await ci.cloud.uploadFunction({ project, ...upload });
        console.log(`  ${spec.name}: uploaded ${result.filesCount} files, ${kb(result.packSize)}`);
        if (spec.triggers.length)
          console.log(`  ${spec.name}: ${await ci.cloud.createTimeTrigger({ project, ...trigger })}`);
      }
      for (const line of consoleInstructions(specs, config.env)) console.log(line);
      return 0;
    });
  });
}
