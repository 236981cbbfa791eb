/**
 * The throwaway compile key is shared by dry runs started together (upload, preview, compile): it
 * must never be seen half-written (a run reading it mid-write failed its compile under load).
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { throwawayKey, withForkRetries } from '../../../scripts/lib/ci-project';

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
