/**
 * The sandbox's configuration plane in isolation: permission rules, unique indexes, function
 * packages and the management API's signature check.
 */
import fs from 'fs';
import os from 'os';
import path from 'path';
import { mayReadFile, mayWriteFile, rulesOf } from '../../../sandbox/client';
import { handleCloudApi, tc3Signature } from '../../../sandbox/cloudapi';
import { Database } from '../../../sandbox/db';
import { Environment } from '../../../sandbox/environment';
import { unzip } from '../../../sandbox/zip';
import { zip } from '../../../scripts/lib/zip';

const own = { _openid: 'o_me' };
const theirs = { _openid: 'o_other' };
const server = {};

describe('permission rules', () => {
  it.each([
    ['READONLY', [true, true, true], [true, false, false]],
    ['PRIVATE', [true, false, false], [true, false, false]],
    ['ADMINWRITE', [true, true, true], [false, false, false]],
    ['ADMINONLY', [false, false, false], [false, false, false]],
  ] as const)('%s: read and write of own, others’ and server documents', (acl, read, write) => {
    const rules = rulesOf({ acl });
    expect([own, theirs, server].map((d) => rules.read(d, 'o_me'))).toEqual(read);
    expect([own, theirs, server].map((d) => rules.write(d, 'o_me'))).toEqual(write);
  });

  it('CUSTOM: booleans and the owner expression; anything else fails closed', () => {
    const owner = rulesOf({ acl: 'CUSTOM', rule: JSON.stringify({ read: true, write: 'doc._openid == auth.openid' }) });
    expect(owner.read(theirs, 'o_me')).toBe(true);
    expect(owner.write(own, 'o_me')).toBe(true);
    expect(owner.write(theirs, 'o_me')).toBe(false);
    const closed = rulesOf({ acl: 'CUSTOM', rule: JSON.stringify({ read: false, write: false }) });
    expect(closed.read(own, 'o_me') || closed.write(own, 'o_me')).toBe(false);
    const unknown = rulesOf({
      acl: 'CUSTOM',
      rule: JSON.stringify({ read: 'doc.public == true', write: 'auth != null' }),
    });
    expect(unknown.read(own, 'o_me') || unknown.write(own, 'o_me')).toBe(false);
    expect(rulesOf({ acl: 'CUSTOM', rule: 'not json' }).read(own, 'o_me')).toBe(false);
  });

  it('storage: PRIVATE lets a user read and overwrite only their own file', () => {
    expect(mayReadFile({ acl: 'PRIVATE' }, 'o_me', 'o_me')).toBe(true);
    expect(mayReadFile({ acl: 'PRIVATE' }, 'o_other', 'o_me')).toBe(false);
    expect(mayReadFile({ acl: 'PRIVATE' }, undefined, 'o_me')).toBe(false);
    expect(mayReadFile({ acl: 'READONLY' }, 'o_other', 'o_me')).toBe(true);
    expect(mayWriteFile({ acl: 'PRIVATE' }, undefined, 'o_me', false)).toBe(true);
    expect(mayWriteFile({ acl: 'PRIVATE' }, 'o_other', 'o_me', true)).toBe(false);
    expect(mayWriteFile({ acl: 'ADMINONLY' }, undefined, 'o_me', false)).toBe(false);
  });
});

describe('unique indexes', () => {
  it('refuses an insert or an update that would share a unique key, and an index over existing duplicates', () => {
    const db = new Database(undefined);
    db.createCollection('s');
    db.insert('s', [{ _id: 'a', k: 'x' }, { _id: 'b', k: 'y' }, { _id: 'c' }]);
    db.createIndex('s', { name: 'k', keys: { k: 1 }, unique: true });
    expect(() => db.insert('s', [{ _id: 'd', k: 'x' }])).toThrow(/duplicate key error collection: s index: k/);
    expect(() =>
      db.modify('s', { _id: 'b' }, { $set: { k: 'x' } }, { multi: false, merge: true, upsert: false }),
    ).toThrow(/duplicate key/);
    // A missing field counts as null: a second document without it collides with c.
    expect(() => db.insert('s', [{ _id: 'e' }])).toThrow(/duplicate key/);
    expect(db.insert('s', [{ _id: 'f', k: 'z' }])).toEqual(['f']);
    db.dropIndex('s', 'k');
    db.insert('s', [{ _id: 'i', k: 'x' }]);
    expect(() => db.createIndex('s', { name: 'k', keys: { k: 1 }, unique: true })).toThrow(/duplicate key/);
  });

  it('checks a transaction’s writes again at commit, against what was committed meanwhile', () => {
    const db = new Database(undefined);
    db.createCollection('s');
    db.createIndex('s', { name: 'k', keys: { k: 1 }, unique: true });
    const tx = db.startTransaction();
    db.insert('s', [{ _id: 'a', k: 'x' }], tx);
    db.insert('s', [{ _id: 'b', k: 'x' }]);
    expect(() => db.commitTransaction(tx)).toThrow(/duplicate key/);
    expect(db.dump('s').map((d) => d._id)).toEqual(['b']);
  });

  it('replays an index created twice under one name as one index', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-db-'));
    try {
      const db = new Database(dir);
      db.createCollection('s');
      db.createIndex('s', { name: 'k', keys: { k: 1 }, unique: false });
      db.createIndex('s', { name: 'k', keys: { k: 1 }, unique: true });
      db.close();
      const again = new Database(dir);
      expect(again.indexes('s')).toEqual([{ name: 'k', keys: { k: 1 }, unique: true }]);
      again.close();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('field paths', () => {
  it('refuses paths through __proto__, constructor or prototype, in data, queries and renames', () => {
    const db = new Database(undefined);
    db.createCollection('s');
    db.insert('s', [{ _id: 'a' }]);
    const merge = { multi: false, merge: true, upsert: false };
    expect(() => db.modify('s', { _id: 'a' }, { $set: { '__proto__.polluted': 1 } }, merge)).toThrow(/not allowed/);
    expect(() => db.modify('s', { _id: 'a' }, { $set: { a: { constructor: { prototype: 1 } } } }, merge)).toThrow(
      /not allowed/,
    );
    expect(() => db.modify('s', { _id: 'a' }, { $rename: { x: 'prototype' } }, merge)).toThrow(/not allowed/);
    expect(() => db.query('s', { '__proto__.polluted': 1 })).toThrow(/not allowed/);
    expect(() => db.insert('s', [JSON.parse('{"__proto__": {"polluted": 1}}') as Record<string, unknown>])).toThrow(
      /not allowed/,
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // Ordinary fields that merely contain the words are fine.
    db.modify('s', { _id: 'a' }, { $set: { prototypeName: 'x', note: '__proto__' } }, merge);
    expect(db.dump('s')).toEqual([{ _id: 'a', prototypeName: 'x', note: '__proto__' }]);
  });
});

describe('function packages', () => {
  it('unzips what the deploy zips, and refuses entries that would escape the folder', () => {
    const files = new Map([
      ['index.js', Buffer.from('exports.main = async () => 1;\n')],
      ['lib/a.json', Buffer.from('{}')],
    ]);
    expect(unzip(zip(files))).toEqual(files);
    for (const bad of ['../escape.js', '/abs.js', 'a\\b.js']) {
      expect(() => unzip(zip(new Map([[bad, Buffer.from('x')]])))).toThrow(/unsafe entry name/);
    }
    expect(() => unzip(Buffer.from('not a zip at all, just text'))).toThrow(/not a zip file/);
  });
});

describe('the management API', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cloudapi-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const ctx = {
    envId: 'env-1',
    bucket: 'bucket-1',
    region: 'ap-shanghai',
    env: new Environment(dir),
    db: new Database(undefined),
    credentials: { secretId: 'AKIDtest', secretKey: 'secret-key' },
    now: () => Date.UTC(2026, 11, 2, 8, 0, 0),
  };
  const timestamp = Math.floor(ctx.now() / 1000);
  const request = (body: object, overrides: { key?: string; timestamp?: number; id?: string } = {}) => {
    const text = JSON.stringify(body);
    const ts = overrides.timestamp ?? timestamp;
    const signature = tc3Signature({
      secretKey: overrides.key ?? 'secret-key',
      service: 'tcb',
      host: 'sandbox',
      path: '/tcloud/tcb',
      timestamp: ts,
      body: text,
    });
    const date = new Date(ts * 1000).toISOString().slice(0, 10);
    return handleCloudApi(
      {
        service: 'tcb',
        path: '/tcloud/tcb',
        body: text,
        headers: {
          host: 'sandbox:8787',
          'x-tc-action': 'DescribeEnvInfo',
          'x-tc-timestamp': String(ts),
          authorization: `TC3-HMAC-SHA256 Credential=${overrides.id ?? 'AKIDtest'}/${date}/tcb/tc3_request, SignedHeaders=content-type;host, Signature=${signature}`,
        },
      },
      ctx,
    );
  };

  it('answers a correctly signed request', () => {
    expect(request({ EnvId: 'env-1' }).Response).toMatchObject({ EnvInfo: { EnvBaseInfo: { EnvId: 'env-1' } } });
  });

  it.each([
    ['another key', { key: 'wrong' }, 'AuthFailure.SignatureFailure'],
    ['another SecretId', { id: 'AKIDother' }, 'AuthFailure.SecretIdNotFound'],
    ['a stale timestamp', { timestamp: timestamp - 600 }, 'AuthFailure.SignatureExpire'],
  ])('refuses %s', (_label, overrides, code) => {
    expect(request({ EnvId: 'env-1' }, overrides).Response).toMatchObject({ Error: { Code: code } });
  });

  it('refuses another environment', () => {
    expect(request({ EnvId: 'env-2' }).Response).toMatchObject({ Error: { Code: 'ResourceNotFound.Env' } });
  });
});
