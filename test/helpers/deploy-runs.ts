/**
 * The deploy suites' shared runs (test/integration/deploy*.test.ts): the deploy scripts spawned
 * exactly as `npm run <script> -- ...` runs them (so their process.exit works), with a preloaded
 * network guard that records every DNS lookup or connection, in a scratch folder of the suite's own.
 */
import { spawn } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';

export const ROOT = path.resolve(__dirname, '../..');
export const TMP = path.join(ROOT, '.tmp');
export const PLACEHOLDER_APPID = 'wx0000000000000000';
export const appid = (JSON.parse(fs.readFileSync(path.join(ROOT, 'project.config.json'), 'utf8')) as { appid: string })
  .appid;
export const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;
export const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'deploy-test-'));

export interface Run {
  pid: number | undefined;
  code: number | null;
  stdout: string;
  stderr: string;
  out: string;
}

/**
 * Preloaded into every run: each DNS lookup or socket connect is appended to $NETWORK_LOG and
 * fails. Dry runs and refused real runs must never reach for the network.
 */
export const guard = path.join(scratch, 'network-guard.js');
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
export const networkAttempts = () => (fs.existsSync(networkLog) ? fs.readFileSync(networkLog, 'utf8') : '');

/**
 * `node scripts/run.js scripts/<script>.ts ...args` with a deploy environment that has no secrets
 * unless given, and the network guard unless `network` (the sandbox run).
 */
export function run(script: string, args: string[], env: Record<string, string> = {}, network = false): Promise<Run> {
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
    child.on('close', (code) => resolve({ pid: child.pid, code, stdout, stderr, out: stdout + stderr }));
  });
}

/** The run exited with `code`; if not, the failure shows what it printed. */
export function expectExit(r: Run, code: number): void {
  if (r.code !== code) throw new Error(`exited ${r.code}, expected ${code}; its output:\n${r.out}`);
}

/** A copy of the mini-program project (no git, no node_modules but @vant/weapp for the npm build). */
export function copyProject(name: string, edit?: (dir: string) => void): string {
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

export function editJson(file: string, edit: (json: Record<string, unknown>) => void): void {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  edit(json);
  fs.writeFileSync(file, JSON.stringify(json, null, 2));
}

export function newKey(): string {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
}

/** The key's body lines: none of them may ever appear in output or in a file left behind. */
export const keyBody = (pem: string) => pem.split('\n').filter((l) => l && !l.startsWith('-----'));

export function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile())
    .map((e) => path.join(e.parentPath, e.name));
}

/**
 * New `.key` files under .tmp/ since `before`, but those another process of this test run holds
 * for a moment (test/unit/scripts/deploy.test.ts, run in parallel, writes `private.ci-<its pid>-…`).
 */
export function newKeyFiles(before: Set<string>, run: Run): string[] {
  return filesUnder(TMP).filter((f) => {
    if (before.has(f) || !f.endsWith('.key')) return false;
    const owner = /^private\.ci-(\d+)-/.exec(path.basename(f))?.[1];
    return owner === undefined || Number(owner) === run.pid;
  });
}

/** A file's text, or '' when it went away meanwhile (another process's scratch file). */
export function readIfThere(file: string): string {
  try {
    return fs.statSync(file).size < 1_000_000 ? fs.readFileSync(file, 'utf8') : '';
  } catch {
    return '';
  }
}

export const KEY_FILE = /upload key: MP_PRIVATE_KEY → (\.tmp\/private\.ci-\d+-[0-9a-f]+\.key) \(mode 600\)/;

/** After the suite: its scratch folder (project copies, env files, the network log) goes. */
export function removeScratch(): void {
  fs.rmSync(scratch, { recursive: true, force: true });
}
