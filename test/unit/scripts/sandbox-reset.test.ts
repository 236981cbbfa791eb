/**
 * `npm run sandbox:reset` deletes a sandbox data dir, and only one: not another folder, and not
 * while a sandbox is using it (that sandbox would go on from memory). A session a killed sandbox
 * left behind does not block it. The storage survives a reset beside it all the same.
 */
import fs from 'fs';
import http from 'http';
import os from 'os';
import path from 'path';
import type { AddressInfo } from 'net';
import { main } from '../../../scripts/sandbox-reset';
import { writeSession } from '../../../sandbox/session';
import { Storage } from '../../../sandbox/storage';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-reset-'));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let n = 0;
function dataDir(files: string[]): string {
  const dir = path.join(root, `d${n++}`);
  fs.mkdirSync(dir);
  for (const f of files) fs.writeFileSync(path.join(dir, f), '{}');
  return dir;
}

async function reset(dir: string): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((m: string) => void lines.push(m));
  const error = jest.spyOn(console, 'error').mockImplementation((m: string) => void lines.push(m));
  process.env.SANDBOX_DATA_DIR = dir;
  try {
    return { code: await main(), out: lines.join('\n') };
  } finally {
    delete process.env.SANDBOX_DATA_DIR;
    log.mockRestore();
    error.mockRestore();
  }
}

it('deletes a sandbox data dir', async () => {
  const dir = dataDir(['secrets.json']);
  expect(await reset(dir)).toEqual({ code: 0, out: `sandbox data removed: ${dir}` });
  expect(fs.existsSync(dir)).toBe(false);
});

it('refuses a folder that is not a sandbox data dir, and keeps it', async () => {
  const dir = dataDir(['notes.txt']);
  const result = await reset(dir);
  expect(result.code).toBe(1);
  expect(result.out).toMatch(/does not look like a sandbox data dir/);
  expect(fs.existsSync(path.join(dir, 'notes.txt'))).toBe(true);
});

/** Runs `check` while a server answering with `handler` is at the address `dir`'s session names. */
async function whileServing(
  dir: string,
  handler: http.RequestListener,
  check: (url: string) => Promise<void>,
): Promise<void> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  writeSession(dir, { url });
  try {
    await check(url);
  } finally {
    server.closeAllConnections(); // a request held unanswered too
    await new Promise((resolve) => server.close(resolve));
  }
}

it('refuses while the sandbox its session names answers, and deletes once it is gone', async () => {
  const dir = dataDir(['secrets.json']);
  const health = '{"ok":true,"env":"sandbox-local","appid":"wx0"}';
  await whileServing(
    dir,
    (_req, res) => res.end(health),
    async (url) => {
      const refused = await reset(dir);
      expect(refused.code).toBe(1);
      expect(refused.out).toContain(`the sandbox at ${url} is using it; stop it (Ctrl-C) first`);
      expect(fs.existsSync(path.join(dir, 'secrets.json'))).toBe(true);
    },
  );
  // Killed without removing its session: the port no longer answers.
  expect(await reset(dir)).toEqual({ code: 0, out: `sandbox data removed: ${dir}` });
  expect(fs.existsSync(dir)).toBe(false);
});

it("another program now on a killed sandbox's port does not block the reset", async () => {
  const dir = dataDir(['secrets.json']);
  await whileServing(
    dir,
    (_req, res) => res.writeHead(404).end('not found'),
    async () => expect(await reset(dir)).toEqual({ code: 0, out: `sandbox data removed: ${dir}` }),
  );
  expect(fs.existsSync(dir)).toBe(false);
});

it('a sandbox too busy to answer in 3 s counts as running: its data stays', async () => {
  const dir = dataDir(['secrets.json']);
  await whileServing(
    dir,
    () => undefined, // never answers
    async () => {
      expect((await reset(dir)).code).toBe(1);
      expect(fs.existsSync(path.join(dir, 'secrets.json'))).toBe(true);
    },
  );
});

it('a storage whose data dir was deleted under it still stores files', () => {
  const dir = dataDir([]);
  const storage = new Storage(dir, 'env-test', () => 'http://127.0.0.1:1', Date.now);
  fs.rmSync(dir, { recursive: true, force: true });
  storage.write('a/b.txt', Buffer.from('after the reset'));
  expect(fs.readFileSync(path.join(dir, 'storage', 'a', 'b.txt'), 'utf8')).toBe('after the reset');
  expect(fs.readdirSync(path.join(dir, 'storage-tmp'))).toEqual([]);
});
