/**
 * The SQLite store commits the writes of one turn of the event loop together (common/store/sqlite-driver.ts).
 * What a caller may rely on: its call resolves only once its write is on disk (another connection
 * sees it), a failing statement fails its own caller alone, and a read never hands out what is
 * not committed yet.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { PrataiError } from '../common/errors.js';
import { SqlStore } from '../common/store/sql-store.js';
import { aFunction, aRequest } from './store-contract.js';

describe('SQLite group commit', () => {
  let dir: string;
  let path: string;
  let store: SqlStore;
  let other: Database.Database;
  /** Whether another connection to the file sees the request: it sees only what is committed. */
  const committed = (requestId: string): boolean => other.prepare('SELECT 1 FROM requests WHERE request_id = ?').get(requestId) !== undefined;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pratai-group-commit-'));
    path = join(dir, 'pratai.db');
    store = SqlStore.open({ kind: 'sqlite', path, where: path }, { poolSize: 1 });
    await store.migrate();
    other = new Database(path, { readonly: true });
  });
  afterEach(async () => {
    other.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('writes made at once are each on disk when their call resolves, and a failing one fails alone', async () => {
    const fn = aFunction('tenant-group');
    await store.createFunction(fn, { module: '', requirements: '' });
    const requests = Array.from({ length: 20 }, () => aRequest(fn));
    const seenOnDisk: boolean[] = [];
    const writes = requests.map((request) => store.createRequest(request).then(() => seenOnDisk.push(committed(request.request_id))));
    const taken = store.createFunction({ ...aFunction('tenant-group'), name: fn.name }, { module: '', requirements: '' });
    const [settled, duplicate] = await Promise.all([Promise.allSettled(writes), taken.then(() => undefined, (error: unknown) => error)]);
    assert.deepEqual(settled.map((result) => result.status), requests.map(() => 'fulfilled'));
    assert.deepEqual(seenOnDisk, requests.map(() => true));
    assert.ok(duplicate instanceof PrataiError && duplicate.code === 'FunctionNameTaken', `the duplicate name is refused: ${String(duplicate)}`);
  });

  test('a read made while a write is not yet committed answers only once it is', async () => {
    const fn = aFunction('tenant-group');
    await store.createFunction(fn, { module: '', requirements: '' });
    const request = aRequest(fn);
    const write = store.createRequest(request);
    const read = await store.getRequest(request.request_id, 'all-tenants');
    assert.equal(read?.request_id, request.request_id);
    assert.ok(committed(request.request_id), 'the read answered before the write it saw was committed');
    await write;
  });

  test("the store's commits are checkpointed into the database file off the event loop, once they are a hundred", async () => {
    const fn = aFunction('tenant-group');
    await store.createFunction(fn, { module: '', requirements: '' });
    const { size: before } = await stat(path);
    // 150 commits of a few pages each: far below the writer's own automatic checkpoint (FALLBACK_AUTOCHECKPOINT_PAGES).
    for (let i = 0; i < 150; i += 1) await store.createRequest({ ...aRequest(fn), payload: 'x'.repeat(1000) });
    assert.ok((await stat(`${path}-wal`)).size > 0, 'the commits are in the WAL');
    const deadline = Date.now() + 10_000;
    while ((await stat(path)).size <= before) {
      assert.ok(Date.now() < deadline, 'no checkpoint copied the WAL into the database file within 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
});
