/**
 * The layer map is enforced: an import across a forbidden boundary fails `npm run lint`. Each case
 * lints a one-line file at a path in that layer with the project's own ESLint configuration.
 */
import { spawnSync } from 'child_process';
import path from 'path';
import { ESLint, type Linter } from 'eslint';

const ROOT = path.resolve(__dirname, '../..');
// The project's own configuration, passed in (jest's VM cannot run ESLint's dynamic config import).
const eslint = new ESLint({
  cwd: ROOT,
  overrideConfigFile: true,
  overrideConfig: require(path.join(ROOT, 'eslint.config.js')) as Linter.Config[],
});

async function boundaryErrors(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport {};\n`, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'layers/boundaries').map((m) => m.message);
}

jest.setTimeout(60_000);

it.each([
  ['server/core/x.ts', "import { COLLECTION } from '../manifest';", 'server/core must not import server/manifest'],
  [
    'server/core/roster/x.ts',
    "import { cloud } from '../../lib/runtime';",
    'server/core must not import server/lib/runtime',
  ],
  ['server/core/x.ts', "import cloud from 'wx-server-sdk';", 'server/core imports only crypto, util'],
  [
    'server/lib/x.ts',
    "import { FaceService } from '../functions/face/service';",
    'server/lib must not import server/functions/face/service',
  ],
  [
    'server/functions/face/x.ts',
    "import { RosterService } from '../roster/service';",
    'server/functions must not import server/functions/roster/service',
  ],
  [
    'server/manifest/x.ts',
    "import { AppError } from '../core/errors';",
    'server/manifest must not import server/core/errors',
  ],
  [
    'sandbox/x.ts',
    "import { createRouter } from '../server/core/router';",
    'sandbox must not import server/core/router',
  ],
  [
    'sandbox/wechat/x.ts',
    "const m = require('../../server/functions/face/index');",
    'sandbox must not import server/functions/face/index',
  ],
  [
    'miniprogram/shared/x.ts',
    "import { config } from '../config';",
    'miniprogram/shared must not import miniprogram/config',
  ],
  ['miniprogram/shared/x.ts', "import crypto from 'crypto';", 'miniprogram/shared imports no packages'],
  [
    'miniprogram/pages/index/x.ts',
    "import type { RosterJob } from '../../../server/core/roster/job';",
    'miniprogram must not import server/core/roster/job',
  ],
  [
    'scripts/x.ts',
    "import { RosterService } from '../server/functions/roster/service';",
    'scripts must not import server/functions/roster/service',
  ],
  [
    'server/lib/x.ts',
    "import service = require('../functions/roster/service');",
    'server/lib must not import server/functions/roster/service',
  ],
  [
    'server/lib/x.ts',
    "const m = require(`../functions/${'face'}/service`);",
    'module specifiers must be string literals',
  ],
  [
    'server/lib/x.ts',
    'const m = require(`../functions/face/service`);',
    'server/lib must not import server/functions/face/service',
  ],
  [
    'server/lib/x.ts',
    `import x from '${ROOT}/server/functions/face/service';`,
    'server/lib must not import server/functions/face/service',
  ],
  ['server/manifest/x.ts', "import fs from 'fs';", 'server/manifest imports no packages'],
  ['server/core/x.ts', "import { execFileSync } from 'child_process';", 'server/core imports only crypto, util'],
  ['server/core/x.ts', "import http from 'node:http';", 'server/core imports only crypto, util'],
  ['miniprogram/services/x.ts', "import crypto from 'crypto';", 'miniprogram imports no packages'],
  ['sandbox/x.ts', "import cloud from 'wx-server-sdk';", 'sandbox must not import wx-server-sdk'],
  [
    'miniprogram/admin/pages/records/x.ts',
    "import { identityForm } from '../../../verify/utils/identity-form';",
    'must not import miniprogram/verify/utils/identity-form: it is in the subpackage miniprogram/verify/',
  ],
  [
    'miniprogram/pages/index/x.ts',
    "import { identityForm } from '../../verify/utils/identity-form';",
    'must not import miniprogram/verify/utils/identity-form: it is in the subpackage miniprogram/verify/',
  ],
])('%s: %s is refused', async (file, code, message) => {
  const errors = await boundaryErrors(file, code);
  expect(errors).toHaveLength(1);
  expect(errors[0]).toContain(message);
});

it.each([
  ['server/core/x.ts', "import { ERRORS } from '../../miniprogram/shared/errors';"],
  ['server/core/roster/x.ts', "import { AppError } from '../errors';"],
  ['server/core/x.ts', "import crypto from 'crypto';\nimport zlib from 'node:zlib';"],
  ['sandbox/x.ts', "import { EJSON } from 'bson';"],
  ['server/lib/x.ts', "import { COLLECTION } from '../manifest';\nimport { AppError } from '../core/errors';"],
  [
    'server/functions/face/x.ts',
    "import { FaceService } from './service';\nimport { cloud } from '../../lib/runtime';",
  ],
  [
    'sandbox/x.ts',
    "import { FUNCTIONS } from '../server/manifest';\nimport { makeIdCard } from '../miniprogram/shared/idcard';",
  ],
  ['miniprogram/pages/index/x.ts', "import { callCloud } from '../../services/cloud';"],
  ['miniprogram/verify/pages/face-verify/x.ts', "import { identityForm } from '../../utils/identity-form';"],
  ['miniprogram/admin/pages/records/x.ts', "import { loadable } from '../../../utils/loadable';"],
  ['scripts/x.ts', "import { FUNCTIONS } from '../server/manifest';\nimport { startSandbox } from '../sandbox';"],
  ['test/unit/x.ts', "import { RosterService } from '../../server/functions/roster/service';"],
])('%s: %s is allowed', async (file, code) => {
  await expect(boundaryErrors(file, code)).resolves.toEqual([]);
});

it('fails `eslint` itself (what `npm run lint` runs) on a forbidden import', () => {
  const run = spawnSync(
    process.execPath,
    [path.join(ROOT, 'node_modules/eslint/bin/eslint.js'), '--stdin', '--stdin-filename', 'server/lib/violation.ts'],
    {
      cwd: ROOT,
      input: "import { RosterService } from '../functions/roster/service';\nexport { RosterService };\n",
      encoding: 'utf8',
    },
  );
  expect(run.status).toBe(1);
  expect(run.stdout).toContain('server/lib must not import server/functions/roster/service');
  expect(run.stdout).toContain('layers/boundaries');
});
