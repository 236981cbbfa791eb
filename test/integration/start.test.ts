/** `npm start` as a user runs it: a child process that serves /health and the gateway, and stops on Ctrl-C. */
import { spawn } from 'child_process';
import fs from 'fs';
import os from 'os';
import path from 'path';

jest.setTimeout(90_000);

it('starts the sandbox, reaches a real function through the gateway, and stops cleanly on SIGINT', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-start-'));
  const child = spawn(process.execPath, ['scripts/run.js', 'scripts/start.ts'], {
    cwd: path.resolve(__dirname, '../..'),
    env: { ...process.env, SANDBOX_PORT: '0', SANDBOX_DATA_DIR: dataDir },
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

    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
