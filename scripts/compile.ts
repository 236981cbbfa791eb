/**
 * `npm run compile`: compiles the mini-program offline with the official compiler (miniprogram-ci
 * getCompiledResult), prints the main package's and each subpackage's size, and fails when the main
 * package is over this starter's budget (100 KB: what every user downloads before the home page
 * shows; `--budget <KB>` sets another, up to WeChat's 2 MB limit) or a subpackage over 2 MB.
 * Run `npm run build` first (the npm builds feed it). `npm test` runs it, so the budget holds.
 *
 * Sizes are what the compiler outputs, attributed as WeChat packs them: a file under a subpackage
 * root (app.json subPackages) is in that subpackage, everything else, including the shared
 * `@babel/runtime` helpers and the root miniprogram_npm, is in the main package.
 *
 * The ES5 compile (project.config.json es6/enhance: one switch in miniprogram-ci 2.1.42, babel
 * preset-env for {chrome 53, ios 8}) stays on although its regenerator runtime (6.8 KB) lands in the
 * main package: WeChat's documentation asks for it wherever async/await is used, and its compat
 * data targets chrome 66 / ios 11 even for recent base libraries. Measured alternatives: no ES5
 * compile, 17.3 KB less but native async and ES2018+ syntax on old devices; the compiler's SWC mode
 * (`swc: true`), 9 KB more.
 */
import { compileAndMeasure, createProject, loadCi, readProjectConfig, throwawayKey } from './lib/ci-project';
import { kb, overBudget, PACKAGE_LIMIT, packageSizes, REUSED_NOTE, subpackageRoots, UsageError } from './lib/deploy';

/** This starter's main-package budget: the home page and what every page shares. */
export const MAIN_PACKAGE_BUDGET = 100 * 1024;

/** The budget in bytes: `--budget <KB>` (at most WeChat's 2 MB), else MAIN_PACKAGE_BUDGET. */
export function budgetOf(args: string[]): number {
  const index = args.indexOf('--budget');
  if (index < 0) return MAIN_PACKAGE_BUDGET;
  const budget = Number(args[index + 1]) * 1024;
  if (!(budget > 0) || budget > PACKAGE_LIMIT)
    throw new UsageError(`--budget takes KB, at most ${PACKAGE_LIMIT / 1024}`);
  return budget;
}

export async function main(args: string[]): Promise<number> {
  const budget = budgetOf(args);
  const ci = loadCi();
  const project = createProject(ci, { privateKeyPath: throwawayKey(), offline: true });
  const measured = await compileAndMeasure(ci, project, { reuse: true });
  // Subpackages (app.json subPackages) are downloaded only when a page of theirs opens.
  const sizes = packageSizes(
    measured.entries,
    subpackageRoots(project.projectPath, readProjectConfig(project.projectPath)),
  );
  console.log(
    `main package (official compiler): ${sizes.main} bytes (${kb(sizes.main)}) of budget ${kb(budget)}, ${measured.files} files in all`,
  );
  if (measured.reused) console.log(REUSED_NOTE.trim().replace(/^\((.*)\)$/, '$1'));
  for (const p of sizes.subpackages) console.log(`subpackage ${p.root}: ${p.bytes} bytes (${kb(p.bytes)})`);
  const main = measured.entries.filter((e) => !sizes.subpackages.some((p) => e.file.startsWith(p.root)));
  for (const entry of main.slice(0, 5)) console.log(`  ${String(entry.bytes).padStart(8)}  ${entry.file}`);
  const over = overBudget(sizes, budget);
  for (const message of over) console.error(`error: ${message}`);
  return over.length ? 1 : 0;
}
