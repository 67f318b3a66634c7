/**
 * Node subscriptions on the real platform (real Docker, the database the file names): a function
 * subscribes to nodes in `subscriptions`; each change made through the REST API, the CLI or a
 * function's own pratai_runtime.coordination makes one ordinary request of each subscriber
 * (`source` node, the change as its payload), there as soon as the write has answered; a function
 * that writes the node it subscribes to stops after MAX_TRIGGER_DEPTH requests (TriggerLoop); bad
 * subscriptions are a 400 naming the entry, with nothing stored. The store's side, on every
 * database: test/node-triggers-contract.ts; many processes: test/node-triggers-multi-node.test.ts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { MAX_TRIGGER_DEPTH } from '../common/coordination/triggers.js';
import { isFinal } from '../common/domain.js';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from './helpers/databases.js';
import { TestCli } from './helpers/cli.js';
import { assertNoLeftoverContainers, call, createFunction, deployFunction, removeFunctionImages, startTestPlatform, waitFor, zipOf, type Json, type TestPlatform } from './helpers/platform.js';

/** Echoes the change it is called with; under a `/loop…` node, sets that node again first. */
const MODULE = String.raw`
from pratai_runtime.coordination import Client

def main(payload=None):
    if isinstance(payload, dict) and str(payload.get("path", "")).startswith("/loop"):
        Client().set_data(payload["path"], b"again")
    return payload
`;

const json = (method: string, body: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

export function nodeTriggersPlatformSuite(kind: TestDatabaseKind, options: { cli?: boolean } = {}): void {
  describe(`node subscriptions on the platform (${kind})`, () => {
    let database: TestDatabase;
    let platform: TestPlatform;
    const deployed: string[] = [];
    let n = 0;
    const root = (prefix = '/nt'): string => `${prefix}${process.pid}x${(n += 1)}`;

    before(async () => {
      database = await createTestDatabase(kind);
      // Warm containers: a chain of runs one after the other takes seconds, not a cold start each.
      platform = await startTestPlatform({ database: { connection: database.url }, runner: { pool_size: '4', concurrency: '4' } });
      for (const fn of await Promise.all([1, 2, 3].map((i) => deployFunction(platform, { 'new_module.py': MODULE }, { name: `subscriber-${i}` })))) {
        assert.equal(fn.status, 'ready', fn.build_log);
        fns.push(fn.function_id);
      }
      deployed.push(...fns);
    });
    after(async () => {
      await platform?.close();
      await database?.drop();
      // Warm containers go with the platform: none outlives it.
      if (platform) assertNoLeftoverContainers(platform.runnerName);
      removeFunctionImages(deployed);
    });
    afterEach(async () => {
      // Every request a test made ends before the next begins.
      await waitFor('every request to end', async () => {
        const { body } = await api('/v1/requests?limit=1000');
        return (body.requests as { status: string }[]).every((r) => isFinal(r.status as never)) ? true : undefined;
      });
    });

    const api = (path: string, init: RequestInit = {}): Promise<Json> => call(`${platform.apiUrl}${path}`, init);
    const node = (method: string, path: string, body: unknown = {}): Promise<Json> => api(`/v1/coordination/nodes${path}`, method === 'DELETE' || method === 'GET' ? { method } : json(method, body));
    /** Functions of MODULE, deployed once (in parallel): each test gives them the subscriptions it needs. */
    const fns: string[] = [];
    const subscribe = async (index: number, subscriptions: unknown): Promise<{ function_id: string; subscriptions: unknown }> => {
      const patched = await api(`/v1/functions/${fns[index]}`, json('PATCH', { subscriptions }));
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      return patched.body.function;
    };
    /** A function's node requests of changes under `root`, by zxid. */
    const requestsOf = async (functionId: string, root: string): Promise<{ request_id: string; status: string; payload: { type: string; path: string; zxid: number }; response: unknown; trigger_depth: number; error: { type: string } | null }[]> => {
      const { body } = await api(`/v1/requests?function_id=${functionId}&source=node&limit=1000`);
      return body.requests
        .filter((r: { payload: { path: string } }) => r.payload.path === root || r.payload.path.startsWith(`${root}/`))
        .toSorted((a: { payload: { zxid: number } }, b: { payload: { zxid: number } }) => a.payload.zxid - b.payload.zxid);
    };
    const changesOf = async (functionId: string, root: string): Promise<string[]> => (await requestsOf(functionId, root)).map((r) => `${r.payload.type} ${r.payload.path}`);

    test('each change of a subscribed node through the REST API makes one request at once, which runs with the change as its payload', async () => {
      const r = root();
      const fn = await subscribe(0, [{ path: `${r}/config` }]);
      assert.deepEqual(fn.subscriptions, [{ path: `${r}/config`, children: false }], 'shown as stored, `children` said');
      assert.equal((await node('POST', r)).status, 201);
      const made = await node('POST', `${r}/config`, { data: Buffer.from('v1').toString('base64') });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.deepEqual(await changesOf(fn.function_id, r), [`NodeCreated ${r}/config`], 'there once the write answered');
      const changed = await node('PUT', `${r}/config`, { data: Buffer.from('v2').toString('base64') });
      const deleted = await node('DELETE', `${r}/config`);
      assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
      const requests = await requestsOf(fn.function_id, r);
      assert.deepEqual(requests.map((req) => req.payload), [
        { type: 'NodeCreated', path: `${r}/config`, zxid: made.body.zxid },
        { type: 'NodeDataChanged', path: `${r}/config`, zxid: changed.body.zxid },
        { type: 'NodeDeleted', path: `${r}/config`, zxid: deleted.body.zxid },
      ]);
      for (const request of requests) {
        const { body } = await waitFor('the request to end', async () => {
          const shown = await api(`/v1/requests/${request.request_id}`);
          return isFinal(shown.body.request.status) ? shown : undefined;
        });
        assert.equal(body.request.status, 'succeeded', JSON.stringify(body.request.error));
        assert.deepEqual(body.request.response, request.payload, 'an ordinary request: main got the change');
        assert.equal(body.request.source, 'node');
        assert.equal(body.request.trigger_depth, 1);
      }
    });

    test('two subscribers of a node, one with its children: a child created and deleted makes requests of that one only', async () => {
      const r = root();
      const only = await subscribe(0, [{ path: r, children: false }]);
      const tree = await subscribe(1, [{ path: r, children: true }]);
      await node('POST', r);
      await node('POST', `${r}/job-1`);
      await node('PUT', `${r}/job-1`);
      await node('DELETE', `${r}/job-1`);
      assert.deepEqual(await changesOf(only.function_id, r), [`NodeCreated ${r}`]);
      assert.deepEqual(await changesOf(tree.function_id, r), [`NodeCreated ${r}`, `NodeCreated ${r}/job-1`, `NodeDeleted ${r}/job-1`]);
    });

    test(`a function that sets the node it subscribes to stops after ${MAX_TRIGGER_DEPTH} runs: the next request is stored failed (TriggerLoop), never run`, async () => {
      const r = root('/loop');
      const looper = await subscribe(2, [{ path: r }]);
      await node('POST', r);
      const requests = await waitFor('the chain to stop', async () => {
        const listed = await requestsOf(looper.function_id, r);
        return listed.some((req) => req.error?.type === 'TriggerLoop') ? listed : undefined;
      }, 120_000);
      await waitFor('its runs to end', async () => ((await requestsOf(looper.function_id, r)).every((req) => isFinal(req.status as never)) ? true : undefined));
      const ended = await requestsOf(looper.function_id, r);
      assert.equal(ended.length, MAX_TRIGGER_DEPTH + 1, 'its own writes made the rest: through pratai_runtime.coordination');
      assert.deepEqual(ended.map((req) => req.trigger_depth), Array.from({ length: MAX_TRIGGER_DEPTH + 1 }, (_, i) => i + 1));
      assert.deepEqual(ended.slice(0, -1).map((req) => req.status), Array(MAX_TRIGGER_DEPTH).fill('succeeded'));
      const last = ended.at(-1);
      assert.equal(last?.status, 'failed');
      assert.equal(last?.error?.type, 'TriggerLoop');
      assert.equal(requests.length, ended.length, 'nothing after the refused one');
      const stat = (await node('GET', r)).body.stat;
      assert.equal(stat.version, MAX_TRIGGER_DEPTH, 'each run set it once');
    });

    test('bad subscriptions are a 400 naming the entry, and nothing is stored or changed', async () => {
      const r = root();
      const fn = await subscribe(0, [{ path: r, children: true }]);
      const before = (await api('/v1/functions')).body.functions.length;
      const cases: [unknown, string, RegExp][] = [
        [[{ path: 'relative' }], 'InvalidSubscription', /subscriptions\[0\].*must start with \//],
        [[{ path: `${r}//x` }], 'InvalidSubscription', /empty name/],
        [['orders', { path: r, recursive: true }], 'InvalidSubscription', /subscriptions\[1\].*unknown key `recursive`/],
        [[{ path: r, children: 'yes' }], 'InvalidSubscription', /`children` to be true or false/],
        [[{ children: true }], 'InvalidSubscription', /no `path`/],
        [[7], 'InvalidSubscription', /an event's name or a node subscription/],
        [[r], 'InvalidSubscription', /a node path: subscribe to a node with \{"path"/],
        [[{ path: r }, { path: r, children: true }], 'InvalidSubscription', /subscriptions\[1\].*twice/],
        [['ghost', { path: r }], 'UnknownEvent', /`ghost`/],
      ];
      for (const [subscriptions, code, message] of cases) {
        const created = await createFunction(platform, zipOf({ 'new_module.py': MODULE }), { name: `bad-${n}`, subscriptions: JSON.stringify(subscriptions) });
        assert.equal(created.status, 400, JSON.stringify(created.body));
        assert.equal(created.body.error.code, code, JSON.stringify(subscriptions));
        assert.match(created.body.error.message, message);
        const patched = await api(`/v1/functions/${fn.function_id}`, json('PATCH', { subscriptions }));
        assert.equal(patched.status, 400, JSON.stringify(patched.body));
        assert.equal(patched.body.error.code, code);
      }
      assert.equal((await api('/v1/functions')).body.functions.length, before, 'no function was made');
      assert.deepEqual((await api(`/v1/functions/${fn.function_id}`)).body.function.subscriptions, [{ path: r, children: true }], 'nor changed');
      await node('POST', r);
      assert.deepEqual(await changesOf(fn.function_id, r), [`NodeCreated ${r}`], 'and it still fires');
    });

    if (options.cli) {
      test('the CLI sets node subscriptions on create and update, keeping the events, shows them, and its node writes trigger too', async () => {
        const r = root();
        const cli = new TestCli({ OS_PRATAI_URL: platform.apiUrl });
        try {
          await cli.ok(['event-create', `ev-${n}`]);
          writeFileSync(join(cli.home, 'new_module.py'), MODULE);
          const created = JSON.parse(await cli.ok(['function-create', `cli-${n}`, '--zip', cli.home, '--subscribe-to', `ev-${n}`, '--subscribe-node', `${r}/a`, '-f', 'json']));
          deployed.push(created.function_id);
          assert.deepEqual(created.subscriptions, [`ev-${n}`, { path: `${r}/a`, children: false }]);
          await cli.ok(['function-update', `cli-${n}`, '--subscribe-children', r]);
          const shown = await cli.ok(['function-show', `cli-${n}`]);
          assert.match(shown, new RegExp(`\\| subscriptions +\\| ev-${n}, ${r} \\(children\\) +\\|`), 'the events kept, the nodes replaced');
          await cli.ok(['function-update', `cli-${n}`, '--subscribe-to', '']);
          assert.deepEqual(JSON.parse(await cli.ok(['function-show', `cli-${n}`, '-f', 'json'])).subscriptions, [{ path: r, children: true }], 'the nodes kept');
          await cli.ok(['node-create', r]);
          await cli.ok(['node-create', `${r}/b`, '--data', 'x']);
          assert.deepEqual(await changesOf(created.function_id, r), [`NodeCreated ${r}`, `NodeCreated ${r}/b`]);
          const listed = await cli.ok(['request-list', '--function', `cli-${n}`, '--source', 'node', '-f', 'value', '-c', 'Source']);
          assert.deepEqual(listed.trim().split('\n'), ['node', 'node']);
        } finally {
          cli.close();
        }
      });
    }
  });
}
