/** `npm run sandbox:reset`: deletes the sandbox's data dir (database, storage, logs, generated secrets). */
import fs from 'fs';
import path from 'path';
import { DEFAULT_DATA_DIR } from '../sandbox';
import { readSession, sessionFile } from '../sandbox/session';

/**
 * Whether a sandbox answers at `url` (`/health` is public: no token needed). Another program now on
 * a killed sandbox's port does not count: only a sandbox's own health answer does. Only a refused
 * connection (or an unusable address) means stopped: a sandbox too busy to answer in 3 s is running.
 */
async function answers(url: string): Promise<boolean> {
  let health: URL;
  try {
    health = new URL('/health', url);
  } catch {
    return false; // no address a sandbox could have written
  }
  try {
    const res = await fetch(health, { signal: AbortSignal.timeout(3000), redirect: 'error' });
    const body = (await res.json().catch(() => null)) as { ok?: unknown; env?: unknown } | null;
    return res.status === 200 && body?.ok === true && typeof body.env === 'string';
  } catch (err) {
    // Stopped without removing its session (killed): nothing holds the data dir.
    return (err as { cause?: { code?: unknown } }).cause?.code !== 'ECONNREFUSED';
  }
}

export async function main(): Promise<number> {
  const dir = path.resolve(process.env.SANDBOX_DATA_DIR ?? DEFAULT_DATA_DIR);
  if (!fs.existsSync(dir)) {
    console.log(`nothing to reset: ${dir} does not exist`);
    return 0;
  }
  if (!fs.existsSync(path.join(dir, 'secrets.json')) && !fs.existsSync(path.join(dir, 'db'))) {
    console.error(`refusing to delete ${dir}: it does not look like a sandbox data dir`);
    return 1;
  }
  // A running sandbox holds its database in memory and its journal open: it would go on as if
  // nothing had been deleted, and the next start would find only what it wrote after.
  const session = readSession(dir);
  if (session && (await answers(session.url))) {
    console.error(
      `refusing to delete ${dir}: the sandbox at ${session.url} is using it; stop it (Ctrl-C) first` +
        ` (if it is already stopped, delete ${sessionFile(dir)} and run this again)`,
    );
    return 1;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`sandbox data removed: ${dir}`);
  return 0;
}
