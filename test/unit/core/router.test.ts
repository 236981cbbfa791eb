/**
 * The router: one place where events become typed requests (access guard, then checker) and errors
 * become answers. Exercised with the real contracts and checkers of the `roster` and `face` functions.
 */
import { noticeVersion } from '../../../miniprogram/shared/consent';
import { ConfigError, InternalError, Refusal } from '../../../server/core/errors';
import { createRouter, type CallerContext, type Handlers } from '../../../server/core/router';
import { WechatApiError } from '../../../server/core/wechat-errors';
import { makeIdCard } from '../../../miniprogram/shared/idcard';

const caller = (openid = 'o_user'): CallerContext => ({ openid, appid: 'wx1234567890abcdef', env: 'test' });
const ID = makeIdCard('110105', '19491231', '002');

function recorder() {
  const lines: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
  return {
    lines,
    logger: {
      info: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'info', message, fields }),
      error: (message: string, fields?: Record<string, unknown>) =>
        void lines.push({ level: 'error', message, fields }),
    },
  };
}

type Ctx = { caller: CallerContext };

function faceRouter(start: Handlers<'face', Ctx>['start']) {
  const log = recorder();
  const route = createRouter<'face', Ctx>(
    'face',
    {
      start,
      confirm: async () => {
        throw new Error('not under test');
      },
      status: async () => ({ mode: 'v2', bindings: [] }),
    },
    { logger: log.logger, guards: {} },
  );
  return { route, log };
}

describe('createRouter: the event', () => {
  const { route } = faceRouter(async () => ({ mode: 'v2', verifyId: 'v', expiresIn: 60 }));

  it.each([null, 'start', 42, ['start']])('refuses a non-object event (%p) as INVALID_REQUEST', async (event) => {
    await expect(route(event, { caller: caller() })).resolves.toMatchObject({ ok: false, code: 'INVALID_REQUEST' });
  });

  it('refuses an unknown or missing action', async () => {
    await expect(route({ action: 'explode' }, { caller: caller() })).resolves.toMatchObject({
      code: 'UNKNOWN_ACTION',
    });
    await expect(route({}, { caller: caller() })).resolves.toMatchObject({ code: 'UNKNOWN_ACTION' });
    // Inherited names are not actions.
    await expect(route({ action: 'toString' }, { caller: caller() })).resolves.toMatchObject({
      code: 'UNKNOWN_ACTION',
    });
  });

  it('refuses a caller without an OPENID before anything runs', async () => {
    await expect(route({ action: 'status' }, { caller: caller('') })).resolves.toEqual({
      ok: false,
      code: 'FORBIDDEN',
      message: '无法识别调用者身份',
    });
  });
});

describe('createRouter: checked requests', () => {
  it('hands the handler the checked, normalised request and adds ok: true to its body', async () => {
    const seen: unknown[] = [];
    const { route } = faceRouter(async (request) => {
      seen.push(request);
      return { mode: 'v2', verifyId: 'verify-1', expiresIn: 600 };
    });
    const answer = await route(
      {
        action: 'start',
        name: ' 张三 ',
        idCardNumber: ID.toLowerCase(),
        consent: true,
        noticeVersion: noticeVersion('face'),
        extra: 'ignored',
      },
      { caller: caller() },
    );
    expect(answer).toEqual({ ok: true, mode: 'v2', verifyId: 'verify-1', expiresIn: 600 });
    expect(seen).toEqual([{ name: '张三', idCardNumber: ID, consent: true, noticeVersion: noticeVersion('face') }]);
  });

  it('answers the checker’s code without running the handler', async () => {
    const handler = jest.fn();
    const { route } = faceRouter(handler);
    await expect(route({ action: 'start', name: '张三', idCardNumber: ID }, { caller: caller() })).resolves.toEqual({
      ok: false,
      code: 'CONSENT_REQUIRED',
      message: '请先阅读并同意《实名信息使用说明》',
    });
    await expect(
      route(
        {
          action: 'start',
          name: '张三',
          idCardNumber: '110105194912310021',
          consent: true,
          noticeVersion: noticeVersion('face'),
        },
        { caller: caller() },
      ),
    ).resolves.toMatchObject({ code: 'ID_CHECKSUM' });
    expect(handler).not.toHaveBeenCalled();
  });
});

describe('createRouter: errors are mapped in one place', () => {
  it('a Refusal is its failure, not logged', async () => {
    const { route, log } = faceRouter(async () => {
      throw new Refusal('FACE_RATE_LIMITED');
    });
    const event = {
      action: 'start',
      name: '张三',
      idCardNumber: ID,
      consent: true,
      noticeVersion: noticeVersion('face'),
    };
    await expect(route(event, { caller: caller() })).resolves.toEqual({
      ok: false,
      code: 'FACE_RATE_LIMITED',
      message: '操作过于频繁，请稍后再试',
    });
    expect(log.lines).toEqual([]);
  });

  it.each([
    [
      'a WeChat errcode',
      new WechatApiError('/cityservice/face/identify/getverifyid?access_token=SECRET', 45011),
      'FACE_RATE_LIMITED',
    ],
    [
      'a configuration problem',
      new ConfigError('face verification settings: FACE_API_VERSION must be one of v2, v1', ['FACE_API_VERSION']),
      'NOT_CONFIGURED',
    ],
    ['an internal fault', new InternalError('invariant broken'), 'INTERNAL'],
  ])('a fault (%s) is its failure and is logged by class and message', async (_label, error, code) => {
    const { route, log } = faceRouter(async () => {
      throw error;
    });
    const event = {
      action: 'start',
      name: '张三',
      idCardNumber: ID,
      consent: true,
      noticeVersion: noticeVersion('face'),
    };
    const answer = await route(event, { caller: caller() });
    expect(answer).toMatchObject({ ok: false, code });
    expect(log.lines).toEqual([
      { level: 'error', message: 'face.start failed', fields: { error: error.name, detail: error.message } },
    ]);
    const text = JSON.stringify(log.lines);
    expect(text).not.toContain(ID);
    expect(text).not.toContain('张三');
    expect(text).not.toContain('SECRET');
  });

  it('names the variables of a configuration problem to the user', async () => {
    const { route } = faceRouter(async () => {
      throw new ConfigError('x', ['FACE_API_VERSION']);
    });
    await expect(
      route(
        { action: 'start', name: '张三', idCardNumber: ID, consent: true, noticeVersion: noticeVersion('face') },
        { caller: caller() },
      ),
    ).resolves.toEqual({
      ok: false,
      code: 'NOT_CONFIGURED',
      message: '服务尚未完成配置（FACE_API_VERSION），请联系管理员',
    });
  });

  it('anything else is INTERNAL, logged without the event', async () => {
    const { route, log } = faceRouter(async (request) => {
      throw new TypeError(`cannot read ${request.idCardNumber.length}`);
    });
    const answer = await route(
      { action: 'start', name: '张三', idCardNumber: ID, consent: true, noticeVersion: noticeVersion('face') },
      { caller: caller() },
    );
    expect(answer).toEqual({ ok: false, code: 'INTERNAL', message: '系统错误，请稍后重试' });
    expect(log.lines).toEqual([
      { level: 'error', message: 'face.start failed', fields: { error: 'TypeError', detail: 'cannot read 18' } },
    ]);
  });

  it('a thrown non-error (the SDK rejects with plain objects) is INTERNAL, its errMsg logged', async () => {
    const { route, log } = faceRouter(async () => {
      throw { errCode: -502001, errMsg: 'database request failed' };
    });
    const answer = await route(
      { action: 'start', name: '张三', idCardNumber: ID, consent: true, noticeVersion: noticeVersion('face') },
      { caller: caller() },
    );
    expect(answer).toMatchObject({ code: 'INTERNAL' });
    expect(log.lines[0]?.fields).toEqual({ error: 'object', detail: 'database request failed' });
  });
});

describe('createRouter: access guards from the contracts', () => {
  type RosterCtx = { caller: CallerContext; admin: boolean };

  function rosterRouter(guard: (ctx: RosterCtx) => Promise<void>) {
    const calls: string[] = [];
    const body = (action: string) => {
      calls.push(action);
      return Promise.resolve();
    };
    const status = {
      jobId: 'a'.repeat(24),
      state: 'done' as const,
      dryRun: false,
      mode: 'merge' as const,
      acceptConflicts: false,
      sheet: '',
      total: 0,
      processed: 0,
      inserted: 0,
      updated: 0,
      unchanged: 0,
      conflicts: 0,
      failed: 0,
      errors: [],
    };
    const route = createRouter<'roster', RosterCtx>(
      'roster',
      {
        access: async (_r, ctx) => (await body('access'), { admin: ctx.admin }),
        reserveUpload: async () => (await body('reserveUpload'), { cloudPath: 'roster-uploads/x.xlsx', deleteBy: 0 }),
        import: async () => (await body('import'), { jobId: 'a'.repeat(24) }),
        run: async () => (await body('run'), status),
        status: async () => (await body('status'), status),
        template: async () => (await body('template'), { fileID: 'f', tempFileURL: 'u' }),
        report: async () => (await body('report'), { fileID: 'f', tempFileURL: 'u' }),
      },
      { logger: recorder().logger, guards: { admin: guard } },
    );
    return { route, calls };
  }

  const adminOnly = async ({ admin }: RosterCtx) => {
    if (!admin) throw new Refusal('FORBIDDEN', '仅名单管理员可以导入名单');
  };

  it('runs the admin guard before the checker: a non-admin learns nothing about the request', async () => {
    const { route, calls } = rosterRouter(adminOnly);
    const user = { caller: caller(), admin: false };
    for (const action of ['reserveUpload', 'import', 'run', 'status', 'template', 'report']) {
      await expect(route({ action, jobId: 'not-a-job' }, user)).resolves.toEqual({
        ok: false,
        code: 'FORBIDDEN',
        message: '仅名单管理员可以导入名单',
      });
    }
    // `access` is open to every identified caller.
    await expect(route({ action: 'access' }, user)).resolves.toEqual({ ok: true, admin: false });
    expect(calls).toEqual(['access']);
  });

  it('lets an admin through to the checker and the handler', async () => {
    const { route, calls } = rosterRouter(adminOnly);
    const admin = { caller: caller('o_admin'), admin: true };
    await expect(route({ action: 'run', jobId: 'not-a-job' }, admin)).resolves.toMatchObject({
      code: 'ROSTER_JOB_NOT_FOUND',
    });
    await expect(route({ action: 'import', fileID: 'cloud://env/elsewhere/x.xlsx' }, admin)).resolves.toMatchObject({
      code: 'INVALID_REQUEST',
    });
    for (const fileName of [undefined, '', '   ', 'x'.repeat(256), 42]) {
      await expect(route({ action: 'reserveUpload', fileName }, admin)).resolves.toMatchObject({
        code: 'INVALID_REQUEST',
      });
    }
    await expect(route({ action: 'run', jobId: 'b'.repeat(24) }, admin)).resolves.toMatchObject({
      ok: true,
      state: 'done',
    });
    expect(calls).toEqual(['run']);
  });

  it('a guard that fails (the admin lookup) is a fault like any other', async () => {
    const { route } = rosterRouter(async () => {
      throw new Error('database down');
    });
    await expect(route({ action: 'template' }, { caller: caller(), admin: true })).resolves.toMatchObject({
      code: 'INTERNAL',
    });
  });

  it('fails closed when a contract names an access level nobody guards', async () => {
    const log = recorder();
    const route = createRouter<'roster', RosterCtx>(
      'roster',
      {} as Handlers<'roster', RosterCtx>,
      // What a type error prevents at compile time, checked again at run time.
      { logger: log.logger, guards: {} as { admin: () => Promise<void> } },
    );
    await expect(route({ action: 'template' }, { caller: caller(), admin: true })).resolves.toMatchObject({
      code: 'INTERNAL',
    });
    expect(log.lines[0]?.fields).toEqual({ error: 'InternalError', detail: 'no guard for access level admin' });
  });
});
