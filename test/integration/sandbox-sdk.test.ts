/**
 * The cloud emulator driven by the real wx-server-sdk: every database, storage and function call
 * below goes over HTTP through the SDK's own request code to the sandbox.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import type { Sandbox } from '../../sandbox';
import { startSandbox } from '../../sandbox';
import { addMany, typedDb } from '../../server/lib/cloud-db';
import { freshSandbox, post, sdkFor } from '../helpers/sandbox';

jest.setTimeout(60_000);

let sandbox: Sandbox;
let cloud: ReturnType<typeof sdkFor>;

// Its own data dir (kept across the restart below, removed at the end).
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-sdk-'));

beforeAll(async () => {
  // ping's deployed timeout (3 s) is wall-clock time; the gateway tests here are about routing and
  // callers, not timeouts, and must not fail on a machine so loaded that a call outlasts it.
  sandbox = await freshSandbox({ dataDir, functionTimeouts: { ping: 60 } });
  cloud = sdkFor(sandbox, 'o_sdk_tester');
  const db = typedDb(cloud.database());
  for (const name of ['items', 'many', 'tx']) await db.createCollection(name);
});

afterAll(async () => {
  await sandbox?.stop();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('database', () => {
  it('adds one document and an array of documents, with unique generated _ids', async () => {
    const db = typedDb(cloud.database());
    const one = await db.collection('items').add({ data: { name: 'a', n: 1, tags: ['x'] } });
    expect(one._id).toMatch(/^[0-9a-f]{32}$/);
    const many = (await db.collection('items').add({
      data: [
        { name: 'b', n: 2 },
        { name: 'c', n: 3, when: new Date('2026-01-02T03:04:05Z') },
        { _id: 'fixed-id', name: 'd', n: 4 },
      ],
    } as never)) as unknown as { _ids: string[] };
    expect(many._ids).toHaveLength(3);
    expect(many._ids[2]).toBe('fixed-id');
    expect(new Set(many._ids).size).toBe(3);

    const doc = await db.collection('items').doc(many._ids[1]!).get();
    expect(doc.data).toMatchObject({ name: 'c', n: 3 });
    expect((doc.data as { when: Date }).when).toBeInstanceOf(Date);
    expect((doc.data as { when: Date }).when.toISOString()).toBe('2026-01-02T03:04:05.000Z');
  });

  it('refuses a duplicate _id and writes nothing of that batch', async () => {
    const db = typedDb(cloud.database());
    await expect(db.collection('items').add({ data: { _id: 'fixed-id', name: 'dup' } })).rejects.toThrow(
      /duplicate key/,
    );
    await expect(
      db.collection('items').add({ data: [{ _id: 'new-1' }, { _id: 'fixed-id' }] } as never),
    ).rejects.toThrow(/duplicate key/);
    const { total } = await db.collection('items').where({ _id: 'new-1' }).count();
    expect(total).toBe(0);
  });

  it('queries with command operators, order, skip, limit and projection', async () => {
    const db = typedDb(cloud.database());
    const _ = db.command;
    const res = await db
      .collection('items')
      .where({ n: _.in([1, 2, 3]), name: _.neq('zzz') })
      .orderBy('n', 'desc')
      .skip(1)
      .limit(2)
      .field({ name: true })
      .get();
    expect(res.data.map((d) => d.name)).toEqual(['b', 'a']);
    expect(Object.keys(res.data[0]!).sort()).toEqual(['_id', 'name']);

    const or = await db
      .collection('items')
      .where(_.or([{ n: _.gt(3) }, { name: 'a' }]))
      .orderBy('n', 'asc')
      .get();
    expect(or.data.map((d) => d.name)).toEqual(['a', 'd']);

    const { total } = await db
      .collection('items')
      .where({ n: _.gte(2) })
      .count();
    expect(total).toBe(3);
  });

  it('returns 100 documents by default and at most 1000, like the cloud', async () => {
    const db = typedDb(cloud.database());
    const docs = Array.from({ length: 1100 }, (_, i) => ({ i }));
    await db.collection('many').add({ data: docs.slice(0, 1000) } as never);
    await db.collection('many').add({ data: docs.slice(1000) } as never);
    expect((await db.collection('many').where({}).get()).data).toHaveLength(100);
    expect((await db.collection('many').where({}).limit(1000).get()).data).toHaveLength(1000);
    // The SDK itself refuses limit > 1000; the server also caps it (checked on the wire).
    const raw = await post(sandbox, '/admin', {
      action: 'database.getDocument',
      collectionName: 'many',
      queryType: 'WHERE',
      query: '{}',
      limit: 5000,
    });
    expect((raw.body.data as { list: unknown[] }).list).toHaveLength(1000);
    expect((await db.collection('many').count()).total).toBe(1100);
  });

  it('updates with $inc, $push, $unset and serverDate; set replaces; remove deletes', async () => {
    const db = typedDb(cloud.database());
    const _ = db.command;
    const before = Date.now();
    const { _id } = await db.collection('items').add({ data: { name: 'upd', n: 1, tags: ['a'], gone: true } });
    const upd = await db
      .collection('items')
      .doc(_id as string)
      .update({ data: { n: _.inc(5), tags: _.push(['b', 'c']), gone: _.remove(), at: db.serverDate() } });
    expect(upd.stats.updated).toBe(1);
    const doc = (
      await db
        .collection('items')
        .doc(_id as string)
        .get()
    ).data as Record<string, unknown>;
    expect(doc).toMatchObject({ name: 'upd', n: 6, tags: ['a', 'b', 'c'] });
    expect(doc).not.toHaveProperty('gone');
    expect((doc.at as Date).getTime()).toBeGreaterThanOrEqual(before - 5);

    await db
      .collection('items')
      .doc(_id as string)
      .set({ data: { only: 'this' } });
    const replaced = (
      await db
        .collection('items')
        .doc(_id as string)
        .get()
    ).data;
    expect(replaced).toEqual({ _id, only: 'this' });

    const multi = await db
      .collection('items')
      .where({ n: _.lte(2) })
      .update({ data: { small: true } });
    expect(multi.stats.updated).toBe(2);

    await db
      .collection('items')
      .doc(_id as string)
      .remove();
    await expect(
      db
        .collection('items')
        .doc(_id as string)
        .get(),
    ).rejects.toThrow(/does not exist/);
    const removed = await db.collection('items').where({ small: true }).remove();
    expect(removed.stats.removed).toBe(2);
  });

  it('answers the cloud error for a collection that does not exist, and createCollection makes it', async () => {
    const db = typedDb(cloud.database());
    await expect(db.collection('nope').add({ data: { a: 1 } })).rejects.toMatchObject({ errCode: -502005 });
    await expect(db.collection('nope').get()).rejects.toMatchObject({ errCode: -502005 });
    await db.createCollection('nope');
    await db.collection('nope').add({ data: { a: 1 } });
    expect((await db.collection('nope').count()).total).toBe(1);
    await expect(db.createCollection('nope')).rejects.toThrow(/exist/i);
  });

  it('commits transactions, rolls them back on abort, and detects conflicts', async () => {
    const db = typedDb(cloud.database());
    await db.collection('tx').add({ data: { _id: 'acct', balance: 100 } });

    const t1 = await db.startTransaction();
    await t1
      .collection('tx')
      .doc('acct')
      .update({ data: { balance: 50 } });
    expect(((await t1.collection('tx').doc('acct').get()).data as { balance: number }).balance).toBe(50);
    // Outside the transaction nothing changed yet.
    expect(((await db.collection('tx').doc('acct').get()).data as { balance: number }).balance).toBe(100);
    await t1.rollback();
    expect(((await db.collection('tx').doc('acct').get()).data as { balance: number }).balance).toBe(100);

    const result = await db.runTransaction(async (t) => {
      const acct = (await t.collection('tx').doc('acct').get()).data as { balance: number };
      await t
        .collection('tx')
        .doc('acct')
        .update({ data: { balance: acct.balance - 30 } });
      await t.collection('tx').add({ data: { _id: 'log-1', amount: 30 } });
      return acct.balance - 30;
    });
    expect(result).toBe(70);
    expect(((await db.collection('tx').doc('acct').get()).data as { balance: number }).balance).toBe(70);
    expect((await db.collection('tx').doc('log-1').get()).data).toMatchObject({ amount: 30 });

    const aborted = db.runTransaction(async (t) => {
      await t
        .collection('tx')
        .doc('acct')
        .update({ data: { balance: 0 } });
      await t.rollback('not enough');
    });
    await expect(aborted).rejects.toBe('not enough');
    expect(((await db.collection('tx').doc('acct').get()).data as { balance: number }).balance).toBe(70);

    const t2 = await db.startTransaction();
    await t2.collection('tx').doc('acct').get();
    await db
      .collection('tx')
      .doc('acct')
      .update({ data: { balance: 1 } });
    await t2
      .collection('tx')
      .doc('acct')
      .update({ data: { balance: 2 } });
    await expect(t2.commit()).rejects.toBeTruthy();
    expect(((await db.collection('tx').doc('acct').get()).data as { balance: number }).balance).toBe(1);
  });
});

describe('storage', () => {
  it('uploads, links, downloads and deletes files', async () => {
    const content = Buffer.from('名单,测试\n');
    const up = await cloud.uploadFile({ cloudPath: 'rosters/测试 1.csv', fileContent: content });
    expect(up.fileID).toBe(`cloud://${sandbox.env}.${sandbox.storage.bucket}/rosters/测试 1.csv`);
    const down = await cloud.downloadFile({ fileID: up.fileID });
    expect(Buffer.compare(down.fileContent as Buffer, content)).toBe(0);

    const links = await (cloud.getTempFileURL({ fileList: [up.fileID] }) as Promise<{
      fileList: { tempFileURL: string; status: number }[];
    }>);
    const url = links.fileList[0]!.tempFileURL;
    expect(url.startsWith(sandbox.url)).toBe(true);
    expect(Buffer.from(await (await fetch(encodeURI(url))).arrayBuffer()).equals(content)).toBe(true);
    // A tampered signature is refused.
    expect((await fetch(encodeURI(url.replace(/sign=[0-9a-f]/, 'sign=g')))).status).toBe(404);

    const del = await (cloud.deleteFile({ fileList: [up.fileID] }) as Promise<{ fileList: { status: number }[] }>);
    expect(del.fileList[0]!.status).toBe(0);
    await expect(cloud.downloadFile({ fileID: up.fileID })).rejects.toBeTruthy();
  });
});

describe('functions and gateway', () => {
  it('runs a real function through callFunction and through the gateway with the given OPENID', async () => {
    const called = (await cloud.callFunction({ name: 'ping', data: { action: 'ping' } })) as { result: unknown };
    expect(called.result).toMatchObject({ ok: false, code: 'FORBIDDEN' }); // server-to-server: no user

    const res = await post(sandbox, '/gateway/functions/ping', { action: 'ping' }, { 'X-WX-OPENID': 'o_gateway_user' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      ok: true,
      openid: 'o_gateway_user',
      appid: sandbox.secrets.appid,
      env: sandbox.env,
    });

    expect((await post(sandbox, '/gateway/functions/nope', {}, { 'X-WX-OPENID': 'o_x' })).status).toBe(404);
    expect((await post(sandbox, '/gateway/functions/ping', {})).status).toBe(400);
    const health = await (await fetch(`${sandbox.url}/health`)).json();
    expect(health).toMatchObject({ ok: true, env: sandbox.env });
  });

  it('keeps concurrent callers apart', async () => {
    const openids = Array.from({ length: 8 }, (_, i) => `o_concurrent_${i}`);
    const results = await Promise.all(
      openids.map((openid) => post(sandbox, '/gateway/functions/ping', { action: 'ping' }, { 'X-WX-OPENID': openid })),
    );
    expect(results.map((r) => r.body.openid)).toEqual(openids);
  });
});

describe('database faults', () => {
  it('fails the next matching requests with the given code, before touching data, then recovers', async () => {
    const db = typedDb(cloud.database());
    await db.createCollection('faulty');
    await db.createCollection('healthy');
    const armed = await post(sandbox, '/sandbox/db/faults', {
      action: 'database.insertDocument',
      collection: 'faulty',
      code: 'DATABASE_REQUEST_FAILED',
      times: 2,
    });
    expect(armed.status).toBe(200);
    const before = await db.collection('faulty').count();
    // Another collection and another action are not affected.
    await db.collection('healthy').add({ data: { fault: 'not here' } });
    expect((await db.collection('faulty').count()).total).toBe(before.total);
    for (let i = 0; i < 2; i += 1) {
      await expect(db.collection('faulty').add({ data: { fault: i } })).rejects.toThrow(/injected database fault/);
    }
    expect((await db.collection('faulty').count()).total).toBe(before.total);
    await db.collection('faulty').add({ data: { fault: 'recovered' } });
    expect((await db.collection('faulty').count()).total).toBe(before.total + 1);
  });

  it('delays a request (latencyMs alone), or stores the first documents of an array insert and fails (partial)', async () => {
    const db = typedDb(cloud.database());
    await db.createCollection('halfway');
    await post(sandbox, '/sandbox/db/faults', {
      action: 'database.getDocument',
      collection: 'halfway',
      latencyMs: 300,
    });
    const started = Date.now();
    expect((await db.collection('halfway').get()).data).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);

    await post(sandbox, '/sandbox/db/faults', {
      action: 'database.insertDocument',
      collection: 'halfway',
      code: 'DATABASE_REQUEST_FAILED',
      partial: 2,
    });
    const docs = [1, 2, 3, 4, 5].map((n) => ({ _id: `h${n}`, n }));
    await expect(addMany(db, 'halfway', docs)).rejects.toThrow(/injected database fault/);
    const stored = (await db.collection<{ n: number }>('halfway').orderBy('n', 'asc').get()).data;
    expect(stored.map((d) => d.n)).toEqual([1, 2]);
  });

  it.each([
    [null, 'request body must be a JSON object'],
    [{ action: 'database.getDocument', latencyMs: -1 }, 'latencyMs must be an integer from 0 to 60000'],
    [
      { action: 'database.insertDocument', latencyMs: 5, partial: 2 },
      'partial must be an integer from 1 to 10000, with a code',
    ],
    [{ action: 'database.insertDocument', partial: 0 }, 'partial must be an integer from 1 to 10000, with a code'],
    [{ action: 'storage.uploadFile' }, 'action must be a database action, e.g. "database.insertDocument"'],
    [{ action: 'database.insertDocument', collection: 3 }, 'collection must be a string'],
    [{ action: 'database.insertDocument', code: 'oops' }, 'code must be an error code name'],
    [{ action: 'database.insertDocument', times: 0 }, 'times must be an integer from 1 to 10000'],
  ])('answers 400 for %j', async (input, error) => {
    expect(await post(sandbox, '/sandbox/db/faults', input)).toMatchObject({ status: 400, body: { error } });
  });
});

describe('quota model', () => {
  it('answers the over-quota errors when QPS or concurrency is exceeded', async () => {
    const db = typedDb(cloud.database());
    // The SDK warns of every request that takes over 3 s, as the held ones below do: expected here,
    // so kept off the output, and checked to be nothing else.
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      await quotaChecks(db);
    } finally {
      sandbox.tcb.quota = {};
      warn.mockRestore();
    }
    for (const call of warn.mock.calls) expect(String(call[0])).toMatch(/^\[TCB\]\[WARN\] .* is longer than 3s/);
  });

  async function quotaChecks(db: ReturnType<typeof typedDb>): Promise<void> {
    sandbox.tcb.quota = { qps: 5 };
    const outcomes = await Promise.allSettled(Array.from({ length: 12 }, () => db.collection('items').count()));
    const rejected = outcomes.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected.length).toBeGreaterThanOrEqual(7);
    expect(rejected[0]!.reason).toMatchObject({ errCode: -501003 });

    // Without a QPS limit the requests above (the one-second window) no longer count. The two admitted
    // requests are held long enough that all six are in flight before the first two finish, even on a
    // machine at a load of 10 (a generous bound: the others are refused at once, so it costs ~5 s once).
    sandbox.tcb.quota = { maxConcurrent: 2, latencyMs: 5000 };
    const concurrent = await Promise.allSettled(Array.from({ length: 6 }, () => db.collection('items').count()));
    const overConcurrent = concurrent.filter((o) => o.status === 'rejected') as PromiseRejectedResult[];
    expect(overConcurrent.length).toBe(4);
    expect(overConcurrent[0]!.reason).toMatchObject({ errCode: -501004 });
  }
});

describe('persistence', () => {
  it('keeps acknowledged writes across a restart', async () => {
    const db = typedDb(cloud.database());
    await db.collection('items').add({ data: { _id: 'durable', note: 'survives' } });
    await sandbox.stop();
    sandbox = await startSandbox({ port: 0, dataDir });
    cloud = sdkFor(sandbox, 'o_sdk_tester');
    const doc = await typedDb(cloud.database()).collection('items').doc('durable').get();
    expect(doc.data).toMatchObject({ note: 'survives' });
    expect((await typedDb(cloud.database()).collection('many').count()).total).toBe(1100);
  });
});
