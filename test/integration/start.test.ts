/** `npm start` as a user runs it: a child process that serves /health and the gateway, and stops on Ctrl-C. */
import { spawn } from 'child_process';
import crypto from 'crypto';
import fs from 'fs';
import os from 'os';
import path from 'path';
import { noticeVersion } from '../../miniprogram/shared/consent';
import { TOUR_NAMES } from '../../scripts/demo';

// A hang detector, not a speed bound: `npm start` rebuilds every function, which ran past 180 s
// beside a CPU hog at load 11–17.
jest.setTimeout(600_000);

/** `npm run demo -- --sandbox <url>` as a user runs it. */
function runDemo(url: string, dataDir: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/run.js', 'scripts/demo.ts', '--sandbox', url], {
      cwd: path.resolve(__dirname, '../..'),
      env: { ...process.env, SANDBOX_DATA_DIR: dataDir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, output }));
  });
}

it('starts the sandbox with the shell’s settings (FACE_API_VERSION=v1), tells the client where it is, stops cleanly on SIGINT', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-start-'));
  const clientFile = path.join(dataDir, 'client-session.js');
  const child = spawn(process.execPath, ['scripts/run.js', 'scripts/start.ts'], {
    cwd: path.resolve(__dirname, '../..'),
    env: {
      ...process.env,
      SANDBOX_PORT: '0',
      SANDBOX_DATA_DIR: dataDir,
      SANDBOX_CLIENT_FILE: clientFile,
      SANDBOX_ENV_FILE: path.join(dataDir, 'none.env'),
      FACE_API_VERSION: 'v1',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const match = /sandbox is running at (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (match) {
          clearInterval(timer);
          resolve(match[1]!);
        }
      }, 50);
      child.once('exit', () => reject(new Error(`npm start exited early:\n${output}`)));
    });
    const health = (await (await fetch(`${url}/health`)).json()) as { ok: boolean; env: string; functions: string[] };
    expect(health).toMatchObject({ ok: true, env: 'sandbox-env' });
    expect(health.functions).toEqual(expect.arrayContaining(['ping', 'face', 'realname']));
    const ping = await fetch(`${url}/gateway/functions/ping`, {
      method: 'POST',
      headers: { 'X-WX-OPENID': 'o_demo_user' },
      body: JSON.stringify({ action: 'ping' }),
    });
    expect(await ping.json()).toMatchObject({ ok: true, openid: 'o_demo_user' });
    expect(output).toContain('o_demo_admin');
    expect(output).toContain('demo roster (20 people)');
    // The first line is the starter's, not a tool's noise; the effective settings are printed.
    expect(output.split('\n')[0]).toMatch(/^realname-starter: /);
    expect(output).not.toContain('[miniprogram-builder]');
    expect(output).toMatch(/FACE_API_VERSION +v1 {2}\(this shell\)/);
    expect(output).toMatch(/IDENTITY_METHODS +wxcheck,face,manual,wxpay/);
    const face = await fetch(`${url}/gateway/functions/face`, {
      method: 'POST',
      headers: { 'X-WX-OPENID': 'o_demo_user' },
      body: JSON.stringify({
        action: 'start',
        name: '张三',
        idCardNumber: '440106199001011235',
        consent: true,
        noticeVersion: noticeVersion('face'),
      }),
    });
    expect(await face.json()).toMatchObject({ ok: true, mode: 'v1' });
    // The tour without DevTools walks every enabled flow against it, printing nothing unmasked.
    const demo = await runDemo(url, dataDir);
    expect(demo.output).toContain('demo done:');
    expect(demo.code).toBe(0);
    for (const section of [
      'face (',
      'wxcheck (',
      'wxpay (',
      'manual (',
      'roster (',
      'review (',
      'admin (',
      'identity (',
    ]) {
      expect(demo.output).toContain(`== ${section}`);
    }
    expect(demo.output).toContain('face API v1');
    // The admin views and the person's rights, each asked and answered.
    for (const step of [
      'admin.lookup as o_demo_admin',
      'admin.coverage as o_demo_admin',
      'admin.audit as o_demo_admin {"idCardNumber"',
      'admin.audit as o_demo_admin {"from"',
      'admin.export as o_demo_admin',
      'review.queue as o_demo_admin',
      'review.decide as o_demo_admin',
      'identity.mine as o_tour_',
      'identity.withdraw as o_tour_',
    ]) {
      expect(demo.output).toContain(`→ ${step}`);
    }
    expect(demo.output).toMatch(/in the roster: true/);
    expect(demo.output).toMatch(/coverage export \.xlsx: 200, \d+ bytes/);
    expect(demo.output).toMatch(/sheet “认证覆盖”: 2\d people/); // the 20 seeded and this run's
    expect(demo.output).toMatch(/the audit now holds: identity\.withdraw ok/);
    // Nothing personal in full: no ID number, none of the names the tour typed.
    expect(demo.output).not.toMatch(/\d{17}[\dX]/);
    for (const name of TOUR_NAMES) expect(demo.output).not.toContain(name);
    // The client's session file: this sandbox's address, no token on loopback.
    const client = require(clientFile) as { url: string; token: string };
    expect(client).toEqual({ url, token: '' });

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(fs.existsSync(clientFile)).toBe(false);
    expect(fs.existsSync(path.join(dataDir, 'session.json'))).toBe(false);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});

it('takes settings from the shell but never a secret or a value the sandbox sets itself; environment.json is 0600', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-start-shell-'));
  // .env.sandbox: a setting, one the shell overrides, a secret (ignored), a typo (noted).
  const envFile = path.join(dataDir, '.env.sandbox');
  const fileSecret = crypto.randomBytes(16).toString('hex');
  fs.writeFileSync(
    envFile,
    `ROSTER_DB_QPS=7\nFACE_API_VERSION=v2\nWECHAT_APPSECRET=${fileSecret}\nFACE_API_VERSON=v1\n`,
  );
  const production = {
    WECHAT_APPSECRET: crypto.randomBytes(16).toString('hex'),
    PII_ENC_KEY: crypto.randomBytes(32).toString('base64'),
    PII_INDEX_KEY: crypto.randomBytes(32).toString('base64'),
    WXPAY_PRIVATE_KEY: crypto
      .generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString(),
  };
  try {
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['scripts/run.js', 'scripts/start.ts', '--exit'], {
        cwd: path.resolve(__dirname, '../..'),
        env: {
          // This shell's own manifest variables, if any, would change what is ignored.
          ...Object.fromEntries(
            Object.entries(process.env).filter(
              ([name]) => !/^(TENCENTCLOUD_|WECHAT_|PII_|WXPAY_|FACE_|ROSTER_)/.test(name),
            ),
          ),
          SANDBOX_PORT: '0',
          SANDBOX_DATA_DIR: dataDir,
          SANDBOX_CLIENT_FILE: path.join(dataDir, 'client-session.js'),
          SANDBOX_ENV_FILE: envFile,
          ...production,
          WECHAT_API_BASE: 'https://api.weixin.qq.com',
          FACE_API_VERSION: 'v1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
      child.once('error', reject);
      child.once('exit', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`npm start exited ${code}:\n${text}`)),
      );
    });
    expect(output).toContain(
      'note: ignored for the sandbox (it keeps its own): WECHAT_APPSECRET, WECHAT_API_BASE, PII_ENC_KEY, PII_INDEX_KEY, WXPAY_PRIVATE_KEY',
    );
    expect(output).toContain('from this shell or .env.sandbox: FACE_API_VERSION, ROSTER_DB_QPS');
    expect(output).toMatch(/ROSTER_DB_QPS +7 {2}\(\.env\.sandbox\)/);
    expect(output).toMatch(/FACE_API_VERSION +v1 {2}\(this shell\)/);
    expect(output).toContain('note: .env.sandbox: not a variable of the manifest: FACE_API_VERSON');
    expect(output).not.toContain(fileSecret);
    const file = path.join(dataDir, 'environment.json');
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const stored = fs.readFileSync(file, 'utf8');
    const face = (JSON.parse(stored) as { functions: Record<string, { env: Record<string, string> }> }).functions.face!;
    expect(face.env.FACE_API_VERSION).toBe('v1');
    const roster = (JSON.parse(stored) as { functions: Record<string, { env: Record<string, string> }> }).functions
      .roster!;
    expect(roster.env.ROSTER_DB_QPS).toBe('7');
    expect(stored).not.toContain(fileSecret);
    expect(stored).not.toContain('api.weixin.qq.com');
    const pemLine = production.WXPAY_PRIVATE_KEY.split('\n')[1]!;
    for (const value of [...Object.values(production), pemLine]) {
      expect(stored).not.toContain(value);
      expect(output).not.toContain(value);
    }
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
