/**
 * What the coordination port must do on every database it runs on (ZooKeeper's outcomes: the
 * error matrix, versions, sequential names, multi, sessions and ephemeral nodes, one-shot
 * watches by the trigger rules, in zxid order). A store test file calls coordinationContract()
 * with a way to make a fresh database; each test works in projects of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { CoordinationStore } from '../common/coordination/coordination-store.js';
import type { Op, SessionRecord } from '../common/coordination/nodes.js';
import { PrataiError, type ErrorCode } from '../common/errors.js';
import { newId } from '../common/ids.js';
import type { Store } from '../common/store/store.js';
import type { TestDatabase } from './helpers/databases.js';
import { connect } from './store-contract.js';

const tenant = (): string => `coord-${newId().slice(-12)}`;
const bytes = (text: string): Buffer => Buffer.from(text);
const create = (path: string, data = '', flags: { ephemeral?: boolean; sequential?: boolean } = {}): Op => ({
  op: 'create',
  path,
  data: bytes(data),
  ephemeral: flags.ephemeral ?? false,
  sequential: flags.sequential ?? false,
});
const HOUR = 3_600_000;

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<PrataiError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected ${code}`),
    (error: unknown) => (caught = error),
  );
  assert.ok(caught instanceof PrataiError, `expected a PrataiError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  return caught;
}

/** What a describe block of a contract works on: a store on a fresh database, and its coordination port. */
export interface OpenedStore {
  database: TestDatabase;
  store: Store;
  nodes: CoordinationStore;
}

/** Opens a store on a fresh database before the tests of the describe block it is called in, and drops it after them. */
export function openedStore(options: { createDatabase(): Promise<TestDatabase> }): OpenedStore {
  const opened = {} as OpenedStore;
  before(async () => {
    opened.database = await options.createDatabase();
    opened.store = await connect(opened.database.url);
    opened.nodes = opened.store.coordination();
  });
  after(async () => {
    await opened.store?.close();
    await opened.database?.drop();
  });
  return opened;
}

export function coordinationContract(name: string, options: { createDatabase(): Promise<TestDatabase> }): void {
  describe(`${name} coordination contract`, () => {
    const opened = openedStore(options);

    const session = async (tenantId: string, timeoutMs = HOUR): Promise<SessionRecord> => {
      const record: SessionRecord = { session_id: newId(), tenant_id: tenantId, timeout_ms: timeoutMs, expires_at: Date.now() + timeoutMs, request_id: null, created_at: new Date().toISOString() };
      await opened.nodes.createSession(record);
      return record;
    };
    const write = (tenantId: string, ops: Op[], sessionId?: string) => opened.nodes.write(tenantId, sessionId, ops, Date.now());
    const get = async (tenantId: string, path: string, sessionId?: string) => {
      const result = await opened.nodes.read(tenantId, sessionId, { read: 'get', path, watch: sessionId !== undefined }, Date.now());
      assert.equal(result.read, 'get');
      return result;
    };

    test('the error matrix: NoNode, NodeExists, BadVersion, NotEmpty, NoChildrenForEphemerals, BadArguments', async () => {
      const t = tenant();
      const s = await session(t);
      await rejectsWith(write(t, [create('/a/b')]), 'NoNode');
      await write(t, [create('/a', 'x')]);
      await rejectsWith(write(t, [create('/a')]), 'NodeExists');
      await rejectsWith(write(t, [create('/')]), 'NodeExists');
      await rejectsWith(write(t, [{ op: 'set', path: '/a', data: bytes('y'), version: 3 }]), 'BadVersion');
      await rejectsWith(write(t, [{ op: 'set', path: '/a', data: bytes('y'), version: -2 }]), 'BadVersion');
      await rejectsWith(write(t, [{ op: 'delete', path: '/a', version: 1 }]), 'BadVersion');
      await rejectsWith(write(t, [{ op: 'set', path: '/nope', data: bytes(''), version: -1 }]), 'NoNode');
      await rejectsWith(write(t, [{ op: 'delete', path: '/nope', version: -1 }]), 'NoNode');
      await rejectsWith(get(t, '/nope'), 'NoNode');
      await rejectsWith(opened.nodes.read(t, undefined, { read: 'children', path: '/nope', watch: false }, Date.now()), 'NoNode');
      await write(t, [create('/a/b')]);
      await rejectsWith(write(t, [{ op: 'delete', path: '/a', version: -1 }]), 'NotEmpty');
      await write(t, [create('/e', '', { ephemeral: true })], s.session_id);
      await rejectsWith(write(t, [create('/e/child')], s.session_id), 'NoChildrenForEphemerals');
      await rejectsWith(write(t, [create('/e2', '', { ephemeral: true })]), 'BadArguments');
      await rejectsWith(write(t, [{ op: 'delete', path: '/', version: -1 }]), 'BadArguments');
      assert.deepEqual(await opened.nodes.read(t, undefined, { read: 'exists', path: '/nope', watch: false }, Date.now()), { read: 'exists', stat: null });
    });

    test('a set adds one to the version and moves mzxid; czxid, ctime and the parent’s counts follow ZooKeeper', async () => {
      const t = tenant();
      const made = await write(t, [create('/v', 'one')]);
      const created = made.results[0];
      assert.ok(created?.op === 'create');
      assert.deepEqual([created.stat.version, created.stat.czxid, created.stat.mzxid, created.stat.pzxid, created.stat.data_length, created.stat.ephemeral_owner], [0, made.zxid, made.zxid, made.zxid, 3, null]);
      let last = made.zxid;
      for (let i = 1; i <= 5; i += 1) {
        const set = await write(t, [{ op: 'set', path: '/v', data: bytes(`v${i}`), version: i - 1 }]);
        assert.ok(set.zxid > last, 'every write takes a greater zxid');
        last = set.zxid;
        const { stat, data } = await get(t, '/v');
        assert.deepEqual([stat.version, stat.mzxid, stat.czxid, data.toString()], [i, set.zxid, made.zxid, `v${i}`]);
      }
      await write(t, [create('/v/c1'), create('/v/c2')]);
      await write(t, [{ op: 'delete', path: '/v/c1', version: -1 }]);
      const { stat } = await get(t, '/v');
      assert.deepEqual([stat.num_children, stat.cversion, stat.version], [1, 3, 5]);
      const children = await opened.nodes.read(t, undefined, { read: 'children', path: '/v', watch: false }, Date.now());
      assert.ok(children.read === 'children');
      assert.deepEqual(children.children, ['c2']);
    });

    test('sequential names take the parent’s counter, ten digits, never reused', async () => {
      const t = tenant();
      await write(t, [create('/q')]);
      const names: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const { results } = await write(t, [create('/q/item-', '', { sequential: true })]);
        names.push(results[0]?.path ?? '');
      }
      assert.deepEqual(names, ['/q/item-0000000000', '/q/item-0000000001', '/q/item-0000000002']);
      await write(t, [{ op: 'delete', path: '/q/item-0000000002', version: -1 }]);
      const next = await write(t, [create('/q/', '', { sequential: true })]);
      assert.equal(next.results[0]?.path, '/q/0000000003', 'the counter is the children ever created (a deletion moves cversion, not the counter): a name is never given twice');
      const { stat } = await get(t, '/q');
      assert.deepEqual([stat.cversion, stat.num_children], [5, 3], 'cversion counts creations and deletions');
    });

    test('concurrent sequential creates get distinct names in zxid order', async () => {
      const t = tenant();
      await write(t, [create('/race')]);
      const made = await Promise.all(Array.from({ length: 30 }, () => write(t, [create('/race/n-', '', { sequential: true })])));
      const byZxid = made.toSorted((a, b) => a.zxid - b.zxid).map((result) => result.results[0]?.path);
      assert.equal(new Set(byZxid).size, 30);
      assert.deepEqual(byZxid, byZxid.toSorted(), 'names increase with the zxid');
    });

    test('a multi applies all or nothing; the failing op is named', async () => {
      const t = tenant();
      await write(t, [create('/m', 'a')]);
      const failed = await rejectsWith(write(t, [create('/m/x'), { op: 'check', path: '/m', version: 7 }, create('/m/y')]), 'BadVersion');
      assert.equal(failed.details?.index, 1);
      assert.equal((await rejectsWith(write(t, [{ op: 'check', path: '/m', version: 7 }]), 'BadVersion')).details?.index, 0, 'a multi of one op names it too');
      assert.deepEqual((await write(t, [])).results, [], 'an empty multi commits, as in ZooKeeper');
      assert.deepEqual(await opened.nodes.read(t, undefined, { read: 'exists', path: '/m/x', watch: false }, Date.now()), { read: 'exists', stat: null }, 'nothing of the failed multi stayed');
      const done = await write(t, [create('/m/x'), { op: 'check', path: '/m', version: 0 }, { op: 'set', path: '/m', data: bytes('b'), version: 0 }, { op: 'delete', path: '/m/x', version: 0 }]);
      assert.deepEqual(done.results.map((r) => r.op), ['create', 'check', 'set', 'delete']);
      assert.equal((await get(t, '/m')).stat.version, 1);
    });

    test('closing a session deletes its ephemeral nodes; a closed or expired session is refused with SessionExpired', async () => {
      const t = tenant();
      const s = await session(t);
      const other = await session(t);
      await write(t, [create('/locks')]);
      await write(t, [create('/locks/mine', '', { ephemeral: true }), create('/locks/seq-', '', { ephemeral: true, sequential: true })], s.session_id);
      await write(t, [create('/locks/theirs', '', { ephemeral: true })], other.session_id);
      assert.equal((await get(t, '/locks/mine')).stat.ephemeral_owner, s.session_id);
      const closed = await opened.nodes.closeSession(t, s.session_id, Date.now());
      assert.ok(closed);
      assert.deepEqual(closed.results.map((r) => r.path).toSorted(), ['/locks/mine', '/locks/seq-0000000001']);
      const left = await opened.nodes.read(t, undefined, { read: 'children', path: '/locks', watch: false }, Date.now());
      assert.ok(left.read === 'children');
      assert.deepEqual(left.children, ['theirs']);
      assert.equal(await opened.nodes.closeSession(t, s.session_id, Date.now()), undefined, 'a second close finds nothing');
      await rejectsWith(write(t, [create('/locks/again', '', { ephemeral: true })], s.session_id), 'SessionExpired');
      const short = await session(t, 1000);
      assert.deepEqual(await opened.nodes.expiredSessions(short.expires_at - 1, 1000).then((rows) => rows.filter((row) => row.session_id === short.session_id)), []);
      assert.ok((await opened.nodes.expiredSessions(short.expires_at, 1000)).some((row) => row.session_id === short.session_id));
      await rejectsWith(opened.nodes.write(t, short.session_id, [create('/late')], short.expires_at), 'SessionExpired');
      assert.equal(await opened.nodes.touchSession(t, short.session_id, short.expires_at, short.expires_at + 1000), false, 'an expired session is not brought back');
      assert.equal(await opened.nodes.touchSession(t, other.session_id, Date.now(), Date.now() + HOUR), true);
    });

    test('watches fire once, by the trigger rules, in zxid order', async () => {
      const t = tenant();
      const s = await session(t);
      const w = s.session_id;
      const read = (kind: 'get' | 'exists' | 'children', path: string) => opened.nodes.read(t, w, { read: kind, path, watch: true }, Date.now());
      await write(t, [create('/w', 'a')]);
      await read('get', '/w');
      await read('exists', '/w/new');
      await read('children', '/w');
      await write(t, [create('/w/new')]); // exists watch: NodeCreated; child watch of /w: NodeChildrenChanged
      await write(t, [{ op: 'set', path: '/w', data: bytes('b'), version: -1 }]); // data watch of /w
      await write(t, [{ op: 'set', path: '/w', data: bytes('c'), version: -1 }]); // fired already: nothing
      const events = await opened.nodes.takeEvents(t, w);
      assert.deepEqual(
        events.map((e) => [e.type, e.path, e.watch]),
        [
          ['NodeCreated', '/w/new', 'data'],
          ['NodeChildrenChanged', '/w', 'child'],
          ['NodeDataChanged', '/w', 'data'],
        ],
      );
      assert.deepEqual(events.map((e) => e.zxid), events.map((e) => e.zxid).toSorted((a, b) => a - b));
      assert.deepEqual(await opened.nodes.takeEvents(t, w), [], 'each event is taken once');
      // Deletion: a data watch and a child watch of the node both fire NodeDeleted; the parent's child watch fires too.
      await read('get', '/w/new');
      await read('children', '/w/new');
      await read('children', '/w');
      await write(t, [{ op: 'delete', path: '/w/new', version: -1 }]);
      assert.deepEqual(
        (await opened.nodes.takeEvents(t, w)).map((e) => [e.type, e.path, e.watch]),
        [
          ['NodeDeleted', '/w/new', 'data'],
          ['NodeDeleted', '/w/new', 'child'],
          ['NodeChildrenChanged', '/w', 'child'],
        ],
      );
      // A watch sees only changes after its read; another session's ephemeral going away fires it.
      const owner = await session(t);
      await write(t, [create('/w/eph', '', { ephemeral: true })], owner.session_id);
      await read('exists', '/w/eph');
      await opened.nodes.closeSession(t, owner.session_id, Date.now());
      assert.deepEqual((await opened.nodes.takeEvents(t, w)).map((e) => [e.type, e.path]), [['NodeDeleted', '/w/eph']]);
      await rejectsWith(opened.nodes.read(t, w, { read: 'get', path: '/absent', watch: true }, Date.now()), 'NoNode');
      await write(t, [create('/absent')]);
      assert.deepEqual(await opened.nodes.takeEvents(t, w), [], 'a get of a missing node sets no watch');
    });

    test('projects are apart: one sees none of another’s tree, zxids, watches', async () => {
      const a = tenant();
      const b = tenant();
      await write(a, [create('/shared', 'from a')]);
      await rejectsWith(get(b, '/shared'), 'NoNode');
      const made = await write(b, [create('/shared', 'from b')]);
      assert.equal(made.zxid, 1, "b's first write is its zxid 1, whatever a did");
      assert.equal((await get(a, '/shared')).data.toString(), 'from a');
      const sa = await session(a);
      await rejectsWith(opened.nodes.write(b, sa.session_id, [create('/x', '', { ephemeral: true })], Date.now()), 'SessionExpired');
    });
  });
}
