/** `npm run sandbox:reset`: deletes the sandbox's data dir (database, storage, logs, generated secrets). */
import fs from 'fs';
import path from 'path';
import { DEFAULT_DATA_DIR } from '../sandbox';

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
  fs.rmSync(dir, { recursive: true, force: true });
  console.log(`sandbox data removed: ${dir}`);
  return 0;
}
