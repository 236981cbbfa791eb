/**
 * Key rotation CLI (docs/security-privacy.md → 密钥轮换): drives `admin.rotateKeys` of a running sandbox (default
 * http://127.0.0.1:8787, as the seeded demo admin) a slice at a time until the rotation is done or
 * blocked, then prints what to do next. The sandbox must already run with the new keys and the old
 * ones listed as old (PII_*_KEYS_OLD in .env.sandbox, then `npm start`). With `--cloud`, the same
 * against a real CloudBase environment through the server SDK, as a signed operator call
 * (scripts/lib/function-transport.ts).
 *
 * Exit codes: 0 done (the old keys can be removed); 1 blocked (something is left under an old key:
 * the message says what) or a failure.
 */
import path from 'path';
import type { AdminRotationStatus } from '../miniprogram/shared/contracts';
import type { Failure } from '../miniprogram/shared/errors';
import { DEFAULT_DATA_DIR, DEFAULT_PORT } from '../sandbox';
import { DEMO_ADMIN_OPENID } from '../sandbox/demo';
import { sessionHeaders } from '../sandbox/session';
import { ROOT } from './build';
import { cloudTransportFrom, gatewayTransport, type FunctionTransport } from './lib/function-transport';

const USAGE = `用法 / usage:
  npm run rotate-keys [-- options]

  --sandbox <url>       沙箱地址（默认 http://127.0.0.1:${DEFAULT_PORT}）
  --as <openid>         以该 openid 调用（默认沙箱的演示管理员）
  --status              只查看进度，不做轮换
  --drop-unrekeyable    删除无法重新加密的旧文档（写于保存 openid 之前且持有人此后未再访问；这些人需重新认证）
  --cloud               在云端环境中执行：腾讯云 API 密钥（TENCENTCLOUD_SECRETID / TENCENTCLOUD_SECRETKEY）+ OPERATOR_KEY
  --env <envId>         云开发环境 ID（默认 CLOUD_ENV）
  --operator <name>     记录在审计日志中的操作员名（默认本机用户名）
  --values-file <path>   读取 OPERATOR_KEY 的文件（默认 .env.deploy；环境变量 OPERATOR_KEY 优先）

退出码 / exit codes: 0 完成（可以删除旧密钥）；1 尚有数据留在旧密钥下，或失败`;

/** Calls a rotation makes at most before it stops (each works up to ~20 s). */
const MAX_CALLS = 10_000;

function option(args: string[], flag: string): string | undefined {
  const at = args.indexOf(flag);
  return at >= 0 ? args[at + 1] : undefined;
}

function transportOf(args: string[]): FunctionTransport {
  if (args.includes('--cloud')) return cloudTransportFrom((flag) => option(args, flag), process.env, ROOT);
  const sandbox = (option(args, '--sandbox') ?? `http://127.0.0.1:${process.env.SANDBOX_PORT ?? DEFAULT_PORT}`).replace(
    /\/+$/,
    '',
  );
  return gatewayTransport(
    sandbox,
    option(args, '--as') ?? DEMO_ADMIN_OPENID,
    sessionHeaders(path.resolve(process.env.SANDBOX_DATA_DIR ?? DEFAULT_DATA_DIR), sandbox),
  );
}

export async function main(args: string[]): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    console.log(USAGE);
    return 0;
  }
  let transport: FunctionTransport;
  try {
    transport = transportOf(args);
  } catch (err) {
    console.error((err as Error).message);
    return 1;
  }
  const call = async (event: Record<string, unknown>): Promise<AdminRotationStatus> => {
    let body: ({ ok: true } & AdminRotationStatus) | Failure;
    try {
      body = (await transport.call('admin', event)) as unknown as ({ ok: true } & AdminRotationStatus) | Failure;
    } catch (err) {
      const message = (err as Error).message;
      if (args.includes('--cloud') || !/fetch failed|ECONNREFUSED/.test(message)) throw err;
      throw new Error(`无法连接沙箱 ${transport.target}：请先运行 npm start`);
    }
    if (!body.ok) throw new Error(`${body.code}: ${body.message}`);
    return body;
  };

  let status = await call({ action: 'rotationStatus' });
  if (!args.includes('--status')) {
    for (let i = 0; i < MAX_CALLS; i += 1) {
      status = await call({
        action: 'rotateKeys',
        ...(args.includes('--drop-unrekeyable') ? { dropUnrekeyable: true } : {}),
      });
      console.log(
        `${status.state}  ${status.collection ?? ''}  rekeyed ${status.rekeyed}, removed ${status.removed}` +
          (status.waiting + status.unrekeyable + status.unreadable
            ? `, left: waiting ${status.waiting}, unrekeyable ${status.unrekeyable}, unreadable ${status.unreadable}`
            : ''),
      );
      if (status.state !== 'running') break;
    }
  }
  console.log(`keys ${status.target}: ${status.state}`);
  console.log(status.next);
  return status.state === 'done' ? 0 : 1;
}
