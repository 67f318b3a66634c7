/**
 * Node subscriptions on every SQL database (common/coordination/triggers.ts): a coordination
 * write makes, in its own transaction, one request per change and subscribed function, with the
 * change as its payload; which changes fire a subscription, with and without `children`; tenancy;
 * a chain of requests made by their own writes stops at MAX_TRIGGER_DEPTH; and writes racing from
 * two connections (as two processes) make exactly one request per change. A store test file calls
 * nodeTriggersContract() with a way to make a fresh database; each test works in projects of its own.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Op, SessionRecord } from '../common/coordination/nodes.js';
import { MAX_TRIGGER_DEPTH } from '../common/coordination/triggers.js';
import type { FunctionRecord, FunctionSubscription, RequestRecord } from '../common/domain.js';
import { newId } from '../common/ids.js';
import type { TestDatabase } from './helpers/databases.js';
import { openedStore } from './coordination-contract.js';
import { aFunction, aRequest, connect } from './store-contract.js';

const tenant = (): string => `trig-${newId().slice(-12)}`;
const CODE = { module: 'def main(payload=None):\n    return payload\n', requirements: '' };
const create = (path: string, flags: { ephemeral?: boolean } = {}): Op => ({ op: 'create', path, data: Buffer.from(''), ephemeral: flags.ephemeral ?? false, sequential: false });
const set = (path: string, version = -1): Op => ({ op: 'set', path, data: Buffer.from('x'), version });
const remove = (path: string): Op => ({ op: 'delete', path, version: -1 });

export function nodeTriggersContract(name: string, options: { createDatabase(): Promise<TestDatabase> }): void {
  describe(`${name} node subscriptions`, () => {
    const opened = openedStore(options);

    const subscriber = async (tenantId: string, subscriptions: FunctionSubscription[]): Promise<FunctionRecord> => {
      const fn = aFunction(tenantId, { subscriptions });
      await opened.store.createFunction(fn, CODE);
      return fn;
    };
    const write = (tenantId: string, ops: Op[], sessionId?: string) => opened.nodes.write(tenantId, sessionId, ops, Date.now());
    /** The node requests of a function, as stored, by zxid (and path, within one write). */
    const requestsOf = async (fn: FunctionRecord): Promise<RequestRecord[]> => {
      const listed = await opened.store.listRequests({ tenantId: fn.tenant_id }, { functionId: fn.function_id, source: 'node', limit: 1000 });
      const key = (r: RequestRecord): { zxid: number; path: string } => r.payload as { zxid: number; path: string };
      return listed.toSorted((a, b) => key(a).zxid - key(b).zxid || key(a).path.localeCompare(key(b).path));
    };
    const changesOf = async (fn: FunctionRecord): Promise<[string, string][]> => (await requestsOf(fn)).map((r) => {
      const { type, path } = r.payload as { type: string; path: string };
      return [type, path];
    });

    test('a create, a set and a delete of a subscribed node each make one queued request, stored with the write, whose payload is the change', async () => {
      const t = tenant();
      const fn = await subscriber(t, [{ path: '/app/config', children: false }]);
      await write(t, [create('/app')]);
      const made = await write(t, [create('/app/config')]);
      assert.equal(made.requests.length, 1);
      const request = made.requests[0] as RequestRecord;
      assert.deepEqual(request.payload, { type: 'NodeCreated', path: '/app/config', zxid: made.zxid });
      const stored = await opened.store.getRequest(request.request_id, { tenantId: t });
      assert.ok(stored, 'stored with the write: there once the write answers');
      assert.equal(stored.status, 'queued');
      assert.equal(stored.source, 'node');
      assert.equal(stored.function_id, fn.function_id);
      assert.equal(stored.user_id, fn.user_id);
      assert.equal(stored.trigger_depth, 1, 'an outside write starts a chain');
      assert.equal(stored.version, 'latest');
      const changed = await write(t, [set('/app/config')]);
      const deleted = await write(t, [remove('/app/config')]);
      const requests = await requestsOf(fn);
      assert.deepEqual(requests.map((r) => r.payload), [
        { type: 'NodeCreated', path: '/app/config', zxid: made.zxid },
        { type: 'NodeDataChanged', path: '/app/config', zxid: changed.zxid },
        { type: 'NodeDeleted', path: '/app/config', zxid: deleted.zxid },
      ]);
      await write(t, [create('/app/other'), set('/app')]);
      assert.equal((await requestsOf(fn)).length, 3, 'a sibling and the parent are not the node');
    });

    test('children: without it only the node counts; with it, each direct child created or deleted makes one request naming the child, a child set or a grandchild none', async () => {
      const t = tenant();
      const node = await subscriber(t, [{ path: '/q', children: false }]);
      const tree = await subscriber(t, [{ path: '/q', children: true }]);
      await write(t, [create('/q')]);
      await write(t, [create('/q/a'), create('/q/b')]);
      await write(t, [set('/q/a'), create('/q/a/deep'), set('/q')]);
      await write(t, [remove('/q/a/deep'), remove('/q/b')]);
      assert.deepEqual(await changesOf(node), [['NodeCreated', '/q'], ['NodeDataChanged', '/q']]);
      assert.deepEqual(await changesOf(tree), [
        ['NodeCreated', '/q'],
        ['NodeCreated', '/q/a'],
        ['NodeCreated', '/q/b'],
        ['NodeDataChanged', '/q'],
        ['NodeDeleted', '/q/b'],
      ]);
      const multi = (await requestsOf(tree)).filter((r) => (r.payload as { path: string }).path !== '/q');
      assert.equal((multi[0]?.payload as { zxid: number }).zxid, (multi[1]?.payload as { zxid: number }).zxid, 'one write, one zxid, one request per change');
      const root = await subscriber(t, [{ path: '/', children: true }]);
      await write(t, [create('/top'), set('/top')]);
      assert.deepEqual(await changesOf(root), [['NodeCreated', '/top']], 'the root\'s children are the top-level nodes');
    });

    test('each subscriber gets one request of a change, even when two of its subscriptions match; a write that fails makes none', async () => {
      const t = tenant();
      await opened.store.createEvent({ tenant_id: t, name: 'orders', description: '', created_at: new Date().toISOString() });
      const first = await subscriber(t, ['orders', { path: '/s', children: true }, { path: '/s/x', children: false }]);
      assert.deepEqual((await opened.store.listSubscriptions(t)).map((s) => s.event), ['orders'], 'events and nodes side by side');
      assert.deepEqual((await opened.store.getFunction(first.function_id, { tenantId: t }))?.subscriptions, ['orders', { path: '/s', children: true }, { path: '/s/x', children: false }]);
      const second = await subscriber(t, [{ path: '/s/x', children: false }]);
      await write(t, [create('/s')]);
      const made = await write(t, [create('/s/x')]);
      assert.deepEqual(made.requests.map((r) => r.function_id).toSorted(), [first.function_id, second.function_id].toSorted());
      assert.deepEqual(await changesOf(first), [['NodeCreated', '/s'], ['NodeCreated', '/s/x']]);
      assert.deepEqual(await changesOf(second), [['NodeCreated', '/s/x']]);
      await assert.rejects(write(t, [set('/s/x'), set('/s/x', 7)]), { code: 'BadVersion' });
      await assert.rejects(write(t, [remove('/s')]), { code: 'NotEmpty' });
      assert.equal((await requestsOf(second)).length, 1, 'nothing of a failed multi, requests included');
      assert.equal((await requestsOf(first)).length, 2);
    });

    test('a function subscribes only to its own project’s tree: the same path elsewhere makes nothing of it', async () => {
      const a = tenant();
      const b = tenant();
      const fnA = await subscriber(a, [{ path: '/shared', children: true }]);
      await write(b, [create('/shared'), create('/shared/x')]);
      await write(b, [set('/shared')]);
      assert.deepEqual(await requestsOf(fnA), []);
      await write(a, [create('/shared')]);
      assert.deepEqual((await requestsOf(fnA)).map((r) => r.tenant_id), [a]);
    });

    test('subscriptions follow the function: replaced by an update, gone with its deletion', async () => {
      const t = tenant();
      const fn = await subscriber(t, [{ path: '/u', children: false }]);
      await write(t, [create('/u'), create('/v')]);
      assert.equal(await opened.store.updateFunction(fn.function_id, { subscriptions: [{ path: '/v', children: false }], updated_at: new Date().toISOString() }), true);
      assert.deepEqual((await opened.store.getFunction(fn.function_id, { tenantId: t }))?.subscriptions, [{ path: '/v', children: false }]);
      await write(t, [set('/u'), set('/v')]);
      assert.deepEqual(await changesOf(fn), [['NodeCreated', '/u'], ['NodeDataChanged', '/v']]);
      assert.equal(await opened.store.deleteFunction(fn.function_id), true);
      assert.deepEqual((await write(t, [set('/v')])).requests, []);
    });

    test('a session’s close deleting a subscribed ephemeral node makes a request; a chain of requests made by their own writes stops at MAX_TRIGGER_DEPTH with TriggerLoop', async () => {
      const t = tenant();
      const fn = await subscriber(t, [{ path: '/workers', children: true }]);
      const session = async (requestId: string | null): Promise<SessionRecord> => {
        const record: SessionRecord = { session_id: newId(), tenant_id: t, timeout_ms: 60_000, expires_at: Date.now() + 60_000, request_id: requestId, created_at: new Date().toISOString() };
        await opened.nodes.createSession(record);
        return record;
      };
      await write(t, [create('/workers')]);
      const worker = await session(null);
      await write(t, [create('/workers/w1', { ephemeral: true })], worker.session_id);
      const closed = await opened.nodes.closeSession(t, worker.session_id, Date.now());
      assert.deepEqual(closed?.requests.map((r) => r.payload), [{ type: 'NodeDeleted', path: '/workers/w1', zxid: closed?.zxid }]);

      // A run of a request at depth d writes: its requests are at d + 1, refused past the bound.
      const runAt = async (depth: number): Promise<RequestRecord> => {
        const writer = aRequest(fn, { source: 'node', trigger_depth: depth, created_at: new Date().toISOString() });
        await opened.store.createRequest(writer);
        const made = await write(t, [create(`/workers/d${depth}`)], (await session(writer.request_id)).session_id);
        assert.equal(made.requests.length, 1);
        return made.requests[0] as RequestRecord;
      };
      const last = await runAt(MAX_TRIGGER_DEPTH - 1);
      assert.equal(last.status, 'queued');
      assert.equal(last.trigger_depth, MAX_TRIGGER_DEPTH);
      const refused = await runAt(MAX_TRIGGER_DEPTH);
      const stored = await opened.store.getRequest(refused.request_id, { tenantId: t });
      assert.equal(stored?.status, 'failed');
      assert.equal(stored?.error?.type, 'TriggerLoop');
      assert.match(stored?.error?.message ?? '', /chain stops at 16/);
      assert.equal(stored?.trigger_depth, MAX_TRIGGER_DEPTH + 1);
      assert.equal(stored?.attempts, 0);
      assert.equal((await runAt(0)).trigger_depth, 1, 'a request no node change made (a webhook call) starts a chain');
    });

    test('writes racing from two connections, as two processes, make exactly one request per change', async () => {
      const t = tenant();
      const fn = await subscriber(t, [{ path: '/race', children: true }]);
      const other = await connect(opened.database.url, { migrate: false });
      try {
        await write(t, [create('/race')]);
        const each = 20;
        const writes = await Promise.all(
          Array.from({ length: 2 * each }, (_, i) => ((i % 2 === 0 ? opened.store : other).coordination().write(t, undefined, [i % 4 < 2 ? set('/race') : create(`/race/n${i}`)], Date.now()))),
        );
        const requests = await requestsOf(fn);
        assert.equal(requests.length, 1 + 2 * each, 'the create, and one a write');
        const zxids = requests.map((r) => (r.payload as { zxid: number }).zxid);
        assert.deepEqual(zxids.slice(1), writes.map((w) => w.zxid).toSorted((a, b) => a - b));
        assert.equal(new Set(requests.map((r) => r.request_id)).size, requests.length);
      } finally {
        await other.close();
      }
    });
  });
}
