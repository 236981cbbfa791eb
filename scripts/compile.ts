/**
 * `npm run compile`: compiles the mini-program offline with the official compiler (miniprogram-ci
 * getCompiledResult), prints the main-package size and fails above the budget (2 MB, WeChat's
 * limit; --budget <KB> to tighten). Run `npm run build` first (the npm build feeds it).
 */
import { compileAndMeasure, createProject, loadCi, readProjectConfig, throwawayKey } from './lib/ci-project';
import { overBudget, packageSizes, subpackageRoots } from './lib/deploy';

export const MAIN_PACKAGE_LIMIT = 2 * 1024 * 1024;

export async function main(args: string[]): Promise<number> {
  const budgetIndex = args.indexOf('--budget');
  const budget = budgetIndex >= 0 ? Number(args[budgetIndex + 1]) * 1024 : MAIN_PACKAGE_LIMIT;
  const ci = loadCi();
  const project = createProject(ci, { privateKeyPath: throwawayKey(), offline: true });
  const measured = await compileAndMeasure(ci, project);
  // Subpackages (app.json subPackages) are downloaded only when a page of theirs opens.
  const sizes = packageSizes(
    measured.entries,
    subpackageRoots(project.projectPath, readProjectConfig(project.projectPath)),
  );
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  console.log(
    `main package (official compiler): ${sizes.main} bytes (${kb(sizes.main)}) of ${measured.files} files in all`,
  );
  for (const p of sizes.subpackages) console.log(`subpackage ${p.root}: ${p.bytes} bytes (${kb(p.bytes)})`);
  const main = measured.entries.filter((e) => !sizes.subpackages.some((p) => e.file.startsWith(p.root)));
  for (const entry of main.slice(0, 5)) console.log(`  ${String(entry.bytes).padStart(8)}  ${entry.file}`);
  const over = overBudget(sizes, budget);
  for (const message of over) console.error(message);
  return over.length ? 1 : 0;
}
