/**
 * `node scripts/run.js scripts/env-example.ts`: writes deploy.env.example, the list of every
 * variable a deploy gives the functions, from the manifest (test/unit/docs.test.ts checks that the
 * committed file is what this writes).
 */
import fs from 'fs';
import path from 'path';
import { FUNCTIONS, VARIABLE_GROUPS, VARIABLES, type VariableName } from '../server/manifest';
import { ROOT } from './build';

export const ENV_EXAMPLE = path.join(ROOT, 'deploy.env.example');

export function envExample(): string {
  const lines = [
    '# Values for `npm run deploy`: copy to .env.deploy (git ignores it) and fill it in. Never commit the copy.',
    '# KEY=VALUE per line; a PEM may be pasted in double quotes over several lines. An unset optional variable',
    '# takes its default; every value is checked as the functions will load it (npm run deploy names problems).',
    '# Generated from server/manifest/variables.ts by `node scripts/run.js scripts/env-example.ts`.',
  ];
  let group = '';
  for (const name of Object.keys(VARIABLES) as VariableName[]) {
    const spec = VARIABLES[name];
    if (spec.group !== group) {
      group = spec.group;
      lines.push('', `# ---- ${group}: ${VARIABLE_GROUPS[spec.group]}`);
    }
    const functions = FUNCTIONS.filter((f) => f.env.some((v) => v.name === name)).map((f) => f.name);
    const fallback =
      'default' in spec && spec.default !== undefined
        ? `default ${String(spec.default)}`
        : spec.kind === 'list' || spec.kind === 'keyring' || (spec.kind === 'key' && 'optional' in spec)
          ? 'default empty'
          : 'required';
    const range =
      spec.kind === 'integer'
        ? `; ${spec.min}–${spec.max}`
        : spec.kind === 'choice'
          ? `; ${spec.values.join(' or ')}`
          : '';
    lines.push(`# ${spec.description} [${functions.join(', ')}; ${fallback}${range}${spec.secret ? '; secret' : ''}]`);
    lines.push(`${name}=`);
  }
  return `${lines.join('\n')}\n`;
}

export async function main(): Promise<number> {
  fs.writeFileSync(ENV_EXAMPLE, envExample());
  console.log(`wrote ${path.relative(ROOT, ENV_EXAMPLE)}`);
  return 0;
}
