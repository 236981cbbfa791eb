/** `npm start`: builds the functions and the npm packages and says what was built. */
import { buildFunctions, buildNpm } from './build';

export async function main(): Promise<number> {
  const built = buildFunctions();
  await buildNpm();
  console.log(`built cloud functions: ${built.join(', ')}; npm build done.`);
  console.log('Open the repository folder in WeChat DevTools (see README).');
  return 0;
}
