/**
 * `npm run upload`: uploads the mini-program as a development version (体验版 candidate) with
 * miniprogram-ci: npm build, official compile, size budget, then ci.upload. `-- --dry-run` stops
 * before the network and prints the exact call. Options: --desc <text> (default: last commit
 * subject), --version <v> (default: package.json), --budget <KB>, --project <dir>.
 * Environment: MP_PRIVATE_KEY_PATH or MP_PRIVATE_KEY, MP_ROBOT (1–30, default 1), CLOUD_ENV.
 */
import { runScript, shipMiniprogram } from './lib/deploy';

export function main(args: string[]): Promise<number> {
  return runScript(() => shipMiniprogram('upload', args));
}
