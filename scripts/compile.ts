/**
 * `npm run compile`: compiles the mini-program offline with the official compiler (miniprogram-ci
 * getCompiledResult), prints the main-package size and fails above the budget (2 MB, WeChat's
 * limit; --budget <KB> to tighten). Run `npm run build` first (the npm build feeds it).
 */
import { compileAndMeasure, createProject, loadCi, throwawayKey } from './lib/ci-project';

export const MAIN_PACKAGE_LIMIT = 2 * 1024 * 1024;

export async function main(args: string[]): Promise<number> {
  const budgetIndex = args.indexOf('--budget');
  const budget = budgetIndex >= 0 ? Number(args[budgetIndex + 1]) * 1024 : MAIN_PACKAGE_LIMIT;
  const ci = loadCi();
  const project = createProject(ci, { privateKeyPath: throwawayKey(), offline: true });
  const size = await compileAndMeasure(ci, project);
  console.log(
    `main package (official compiler): ${size.bytes} bytes in ${size.files} files (${(size.bytes / 1024).toFixed(1)} KB)`,
  );
  for (const entry of size.largest.slice(0, 5)) console.log(`  ${String(entry.bytes).padStart(8)}  ${entry.file}`);
  if (size.bytes > budget) {
    console.error(`main package is ${size.bytes} bytes, over the budget of ${budget} bytes`);
    return 1;
  }
  return 0;
}
