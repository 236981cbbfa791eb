/**
 * A function's timeout counts its invocation, not the instance's start: the code loads while the
 * instance starts (the cloud's initialization phase), so a slow load on a busy machine is no timeout.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { FunctionRunner } from '../../../sandbox/functions';

jest.setTimeout(60_000);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'function-init-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function runnerFor(code: string, timeout: number): FunctionRunner {
  const entry = path.join(dir, `fn-${Math.random().toString(16).slice(2)}.js`);
  fs.writeFileSync(entry, code);
  return new FunctionRunner({
    baseEnv: { PATH: process.env.PATH ?? '' },
    resolve: () => ({ entry, timeout, memory: 128, env: {}, revision: 1 }),
    clockOffsetMs: () => 0,
    logFile: path.join(dir, 'functions.log'),
  });
}

it('loads the code before the invocation starts: a load longer than the timeout does not time out', async () => {
  // Loading takes 2 s (longer than the 1 s timeout); the call itself is immediate.
  const runner = runnerFor(
    'const until = Date.now() + 2000; while (Date.now() < until) {}\nexports.main = async (e) => ({ echoed: e.n });',
    1,
  );
  try {
    const result = await runner.invoke('slowload', { n: 7 }, { openid: 'o_x', appid: 'wx1' });
    expect(result).toMatchObject({ ok: true, result: { echoed: 7 } });
  } finally {
    await runner.close();
  }
});

it('still times out an invocation that runs longer than the timeout', async () => {
  const runner = runnerFor('exports.main = () => new Promise(() => {});', 1);
  try {
    const result = await runner.invoke('hangs', {}, { openid: 'o_x', appid: 'wx1' });
    expect(result).toMatchObject({ ok: false, timedOut: true, error: 'Task timed out after 1 seconds' });
  } finally {
    await runner.close();
  }
});

it('answers a module that fails to load on the invocation, as before', async () => {
  const runner = runnerFor('throw new Error("broken at load");', 3);
  try {
    const result = await runner.invoke('broken', {}, { openid: 'o_x', appid: 'wx1' });
    expect(result).toMatchObject({ ok: false, error: 'Error: broken at load' });
  } finally {
    await runner.close();
  }
});
