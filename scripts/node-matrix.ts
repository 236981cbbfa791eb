/**
 * `npm run test:node-matrix [-- --versions 16.20.2,22.23.3]`: runs the built cloud functions,
 * unmodified and with the real wx-server-sdk bundled in, on the Node.js versions the cloud offers, and the
 * sandbox integration suites (face, real-name, roster, SDK) against them.
 *
 * The cloud's runtimes include Node 16, 18, 20 and 22, and real-name decryption has a trap that
 * differs by version (Node ≥ 18.19.1 / 20.11.1 refuse RSA_PKCS1_PADDING for private decryption),
 * so "works on all of them" is checked by running them, not assumed from the build target.
 *
 * Each Node binary comes from the npm registry: `node-<platform>-<arch>`, Node's release binaries
 * repackaged on npm (what the `node` npm package installs). `npm pack` checks the tarball against the
 * registry's integrity hash, not against nodejs.org's signatures. Cached in `.cache/node-matrix/`. The
 * functions run on that binary; the sandbox and jest stay on this one.
 */
import { execFileSync, spawnSync } from 'child_process';
import fs from 'fs';
import path from 'path';
import { startSandbox } from '../sandbox';
import { deploySandbox } from './lib/sandbox-deploy';

/** The cloud function runtimes' majors, latest patch on the registry. 20 is this process's own. */
export const NODE_MATRIX = ['16.20.2', '18.20.8', '22.23.3'] as const;

const ROOT = path.resolve(__dirname, '..');
const CACHE = path.join(ROOT, '.cache', 'node-matrix');
const SUITES = [
  'test/integration/face.test.ts',
  'test/integration/realname.test.ts',
  'test/integration/methods.test.ts',
  'test/integration/rights.test.ts',
  'test/integration/roster.test.ts',
  'test/integration/roster-slices.test.ts',
  'test/integration/roster-faults.test.ts',
  'test/integration/sandbox-sdk.test.ts',
];

export function parseVersions(args: string[]): string[] {
  const at = args.indexOf('--versions');
  if (at < 0) return [...NODE_MATRIX];
  const list = (args[at + 1] ?? '').split(',').filter(Boolean);
  for (const v of list) if (!/^\d+\.\d+\.\d+$/.test(v)) throw new Error(`--versions: "${v}" is not x.y.z`);
  if (list.length === 0) throw new Error('--versions needs a comma-separated list, e.g. 16.20.2,18.20.8');
  return list;
}

/** `.cache/node-matrix/<version>/node`, fetched from the npm registry once. */
export function nodeBinary(version: string): string {
  const dir = path.join(CACHE, version);
  const bin = path.join(dir, 'node');
  if (!fs.existsSync(bin)) {
    const pkg = `node-${process.platform}-${process.arch}@${version}`;
    fs.mkdirSync(dir, { recursive: true });
    console.log(`fetching ${pkg} from the npm registry`);
    const packed = execFileSync('npm', ['pack', pkg, '--pack-destination', dir, '--silent'], {
      cwd: dir,
      encoding: 'utf8',
    })
      .trim()
      .split('\n')
      .pop()!;
    const tgz = path.join(dir, packed);
    execFileSync('tar', ['-xzf', tgz, '-C', dir, '--strip-components=2', 'package/bin/node']);
    fs.rmSync(tgz);
  }
  const reported = execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim();
  if (reported !== `v${version}`) throw new Error(`${bin} reports ${reported}, expected v${version}`);
  return bin;
}

/** Starts a throwaway sandbox whose functions run on `bin`, and proves they did. */
async function smoke(bin: string, version: string): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(ROOT, '.tmp', `matrix-${version}-`));
  const sandbox = await startSandbox({ port: 0, dataDir, functionNode: bin });
  try {
    // Configured as every sandbox is: the deploy puts the functions there.
    await deploySandbox(sandbox, { only: ['ping'] });
    const result = await sandbox.invoke('ping', {}, 'o_matrix');
    if (!result.ok) throw new Error(`ping on Node ${version} failed: ${result.error}`);
    const seen = [...sandbox.functions.versions];
    if (seen.length !== 1 || seen[0] !== `v${version}`) {
      throw new Error(`functions ran on ${seen.join(', ') || 'nothing'}, expected v${version}`);
    }
  } finally {
    await sandbox.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function main(args: string[]): Promise<number> {
  const versions = parseVersions(args);
  if (!fs.existsSync(path.join(ROOT, 'cloudfunctions', 'realname', 'index.js'))) {
    console.error('cloudfunctions/ are not built: run `npm run build` first');
    return 1;
  }
  fs.mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  const results: Array<{ version: string; ok: boolean; seconds: number }> = [];
  for (const version of versions) {
    const started = Date.now();
    const bin = nodeBinary(version);
    await smoke(bin, version);
    console.log(`\n== cloud functions on Node ${version} (${path.relative(ROOT, bin)}) ==`);
    const jest = spawnSync(
      process.execPath,
      [require.resolve('jest/bin/jest'), '--selectProjects', 'integration', '--runInBand', ...SUITES],
      { cwd: ROOT, stdio: 'inherit', env: { ...process.env, SANDBOX_FUNCTION_NODE: bin } },
    );
    results.push({ version, ok: jest.status === 0, seconds: Math.round((Date.now() - started) / 1000) });
  }
  console.log('\nNode matrix (functions on the listed Node, sandbox on this one):');
  for (const r of results) console.log(`  Node ${r.version}: ${r.ok ? 'pass' : 'FAIL'} (${r.seconds} s)`);
  return results.every((r) => r.ok) ? 0 : 1;
}
