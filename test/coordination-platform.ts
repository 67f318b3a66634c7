/**
 * Coordination on the real platform (real Docker, the database the file names): functions use
 * pratai_runtime.coordination concurrently (sequential names, a Counter, a Lock, an Election, a
 * watch), a holder's container is killed mid-lock, and the REST API serves nodes, sessions and
 * their events. Each test works under a root node of its own.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { call, deployFunction, invoke, removeFunctionImages, startTestPlatform, waitFor, waitForRequest, assertNoLeftoverContainers, type TestPlatform } from './helpers/platform.js';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from './helpers/databases.js';

const MODULE = String.raw`
import time
from pratai_runtime.coordination import Client, Counter, Election, Lock, NodeExistsError

def main(payload):
    zk = Client()
    task = payload["task"]
    root = payload["root"]
    if task == "sequential":
        return [zk.create(root + "/n-", b"", sequence=True) for _ in range(payload["count"])]
    if task == "counter":
        counter = Counter(zk, root + "/count")
        for _ in range(payload["count"]):
            counter.add(1)
        return counter.value
    if task == "lock":
        me = payload["me"]
        for _ in range(payload["rounds"]):
            with Lock(zk, root + "/lock", me):
                data, _ = zk.get_data(root + "/log")
                zk.set_data(root + "/log", data + ("<" + me).encode())
                time.sleep(0.005)
                data, _ = zk.get_data(root + "/log")
                zk.set_data(root + "/log", data + (">" + me + " ").encode())
        return "done"
    if task == "lead":
        def lead():
            # Ephemeral: a second leader at once would get NodeExists and fail its request.
            zk.create(root + "/leader", payload["me"], ephemeral=True)
            zk.create(root + "/leaders/" + payload["me"])
            time.sleep(payload["hold"])
            zk.delete(root + "/leader")
            return payload["me"]
        return Election(zk, root + "/election", payload["me"]).run(lead)
    if task == "watch":
        seen = []
        fired = __import__("threading").Event()
        def on_change(event):
            seen.append([event.type, event.path, event.zxid])
            fired.set()
        zk.get_data(root + "/watched", watch=on_change)
        zk.create(root + "/watcher-ready", ephemeral=True)
        fired.wait(60)
        data, stat = zk.get_data(root + "/watched")
        return {"events": seen, "data": data.decode(), "mzxid": stat.mzxid}
    raise ValueError(task)
`;

const b64 = (text: string): string => Buffer.from(text).toString('base64');

export function coordinationPlatformSuite(kind: TestDatabaseKind): void {
  describe(`coordination on the platform (${kind})`, () => {
    let database: TestDatabase;
    let platform: TestPlatform;
    let fnId: string;
    let holderId: string;
    const functionIds: string[] = [];
    let n = 0;
    const root = (): string => `/t${process.pid}x${(n += 1)}`;

    const api = (path: string, init: RequestInit = {}) => call(`${platform.apiUrl}/v1/coordination${path}`, init);
    const put = (path: string, body: unknown, method = 'POST', headers: Record<string, string> = {}) =>
      api(path, { method, headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    const run = async (functionId: string, payload: unknown): Promise<unknown> => {
      const request = await waitForRequest(platform, await invoke(platform, functionId, payload), 170_000);
      assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
      return request.response;
    };
    const children = async (path: string): Promise<string[]> => {
      const { status, body } = await api(`/nodes${path}?children=true`);
      return status === 200 ? (body.children as string[]) : [];
    };

    before(async () => {
      database = await createTestDatabase(kind);
      platform = await startTestPlatform({
        database: { connection: database.url },
        // A killed container is a platform failure: not run again here, so that the holder stays dead.
        runner: { concurrency: '10', platform_retries: '0' },
        coordination: { session_timeout_ms: '3000', sweep_interval_ms: '200' },
      });
      const fn = await deployFunction(platform, { 'new_module.py': MODULE }, { name: 'coordinator', timeout: '180' });
      const holder = await deployFunction(platform, { 'new_module.py': MODULE }, { name: 'holder', timeout: '180' });
      assert.equal(fn.status, 'ready', fn.build_log);
      fnId = fn.function_id;
      holderId = holder.function_id;
      functionIds.push(fnId, holderId);
    });
    after(async () => {
      await platform?.close();
      await database?.drop();
      if (platform) assertNoLeftoverContainers(platform.runnerName);
      removeFunctionImages(functionIds);
    });

    test('50 concurrent sequential creates by 10 requests give 50 distinct, increasing names', async () => {
      const r = root();
      assert.equal((await put(`/nodes${r}`, {})).status, 201);
      const made = (await Promise.all(Array.from({ length: 10 }, () => run(fnId, { task: 'sequential', root: r, count: 5 })))) as string[][];
      const all = made.flat();
      assert.equal(new Set(all).size, 50);
      for (const names of made) assert.deepEqual(names, names.toSorted(), "one request's names increase in its order");
      assert.deepEqual((await children(r)).map((name) => `${r}/${name}`), all.toSorted());
      assert.deepEqual(all.toSorted().map((path) => Number(path.slice(-10))), [...Array(50).keys()]);
    });

    test('8 requests × 25 Counter increments end at exactly 200', async () => {
      const r = root();
      await Promise.all(Array.from({ length: 8 }, () => run(fnId, { task: 'counter', root: r, count: 25 })));
      const { body } = await api(`/nodes${r}/count`);
      assert.equal(Buffer.from(body.data as string, 'base64').toString(), '200');
      assert.equal(body.stat.version, 200, 'one set per increment, each +1 on the version');
    });

    test('a Lock held by 8 concurrent requests never has two holders', async () => {
      const r = root();
      await put(`/nodes${r}`, {});
      await put(`/nodes${r}/log`, { data: '' });
      await Promise.all(Array.from({ length: 8 }, (_, i) => run(fnId, { task: 'lock', root: r, me: `f${i}`, rounds: 3 })));
      const { body } = await api(`/nodes${r}/log`);
      const entries = Buffer.from(body.data as string, 'base64').toString().trim().split(' ');
      assert.equal(entries.length, 24, 'no update lost');
      for (const entry of entries) assert.match(entry, /^<(f\d)>\1$/, `an interleaving: ${entry}`);
      assert.deepEqual(await children(`${r}/lock`), [], "every contender's node is gone");
    });

    test("a holder's container killed mid-lock releases the lock, and the next waiter gets it", async () => {
      const r = root();
      await put(`/nodes${r}`, {});
      await put(`/nodes${r}/leaders`, {});
      const held = await invoke(platform, holderId, { task: 'lead', root: r, me: 'doomed', hold: 600 });
      await waitFor('the holder to lead', async () => ((await api(`/nodes${r}/leader`)).status === 200 ? true : undefined), 120_000);
      const waiter = invoke(platform, fnId, { task: 'lead', root: r, me: 'next', hold: 0 });
      await waitFor('the waiter to contend', async () => ((await children(`${r}/election`)).length === 2 ? true : undefined), 120_000);
      const leader = await api(`/nodes${r}/leader`);
      assert.equal(Buffer.from(leader.body.data as string, 'base64').toString(), 'doomed', 'one leader while both contend');
      const doomed = execFileSync('docker', ['ps', '-q', '--filter', `label=pratai.function_id=${holderId}`], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
      assert.equal(doomed.length, 1);
      execFileSync('docker', ['kill', ...doomed], { stdio: 'ignore' });
      const next = await waitForRequest(platform, await waiter, 120_000);
      assert.equal(next.status, 'succeeded', JSON.stringify(next.error));
      assert.equal(next.response, 'next');
      assert.equal((await waitForRequest(platform, held)).status, 'failed');
      assert.deepEqual((await children(`${r}/leaders`)).toSorted(), ['doomed', 'next']);
      assert.deepEqual(await children(`${r}/election`), []);
    });

    test('an Election has one leader at a time among 5 requests', async () => {
      const r = root();
      await put(`/nodes${r}`, {});
      await put(`/nodes${r}/leaders`, {});
      const leaders = await Promise.all(Array.from({ length: 5 }, (_, i) => run(fnId, { task: 'lead', root: r, me: `e${i}`, hold: 0.05 })));
      assert.deepEqual((leaders as string[]).toSorted(), ['e0', 'e1', 'e2', 'e3', 'e4']);
      assert.deepEqual((await children(`${r}/leaders`)).toSorted(), ['e0', 'e1', 'e2', 'e3', 'e4']);
    });

    test("a function's watch fires once with the change's zxid, before a later get shows the new data", async () => {
      const r = root();
      await put(`/nodes${r}`, {});
      await put(`/nodes${r}/watched`, { data: b64('before') });
      const watcher = await invoke(platform, fnId, { task: 'watch', root: r });
      await waitFor('the watch to be set', async () => ((await api(`/nodes${r}/watcher-ready`)).status === 200 ? true : undefined), 120_000);
      const set = await put(`/nodes${r}/watched`, { data: b64('after') }, 'PUT');
      assert.equal(set.status, 200, JSON.stringify(set.body));
      await put(`/nodes${r}/watched`, { data: b64('again') }, 'PUT');
      const done = await waitForRequest(platform, watcher, 120_000);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      const response = done.response as { events: unknown[]; data: string };
      assert.deepEqual(response.events, [['NodeDataChanged', `${r}/watched`, set.body.zxid]], 'once, for the first change only');
      assert.equal(await waitFor('the watcher’s session to end', async () => ((await api(`/nodes${r}/watcher-ready`)).status === 404 ? true : undefined)), true);
    });

    test('REST: sessions own ephemeral nodes; an answer carries the watch event before the data it shows; the event stream delivers in zxid order', async () => {
      const r = root();
      const opened = await put('/sessions', { timeout_ms: 5000 });
      assert.equal(opened.status, 201);
      const session = opened.body.session.session_id as string;
      const as = { 'x-pratai-session': session };
      await put(`/nodes${r}`, { data: b64('v0') });
      assert.equal((await put(`/nodes${r}/mine`, { ephemeral: true }, 'POST', as)).body.stat.ephemeral_owner, session);
      assert.equal((await put(`/nodes${r}/mine/child`, {}, 'POST', as)).body.error.code, 'NoChildrenForEphemerals');
      await api(`/nodes${r}?watch=true`, { headers: as });
      const set = await put(`/nodes${r}`, { data: b64('v1'), version: 0 }, 'PUT');
      assert.equal(set.body.stat.version, 1);
      assert.equal((await put(`/nodes${r}`, { data: b64('v2'), version: 0 }, 'PUT')).body.error.code, 'BadVersion');
      const read = await api(`/nodes${r}`, { headers: as });
      assert.deepEqual(read.body.events, [{ type: 'NodeDataChanged', path: r, zxid: set.body.zxid, watch: 'data' }]);
      assert.equal(Buffer.from(read.body.data as string, 'base64').toString(), 'v1');

      const stream = await fetch(`${platform.apiUrl}/v1/coordination/sessions/${session}/events`, { headers: { accept: 'text/event-stream' } });
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      await api(`/nodes${r}?children=true&watch=true`, { headers: as });
      await api(`/nodes${r}/other?stat=true&watch=true`, { headers: as });
      const created = await put(`/nodes${r}/other`, {});
      let text = '';
      while ((text.match(/event: watch/g) ?? []).length < 2) text += (await reader.read()).value ?? '';
      await reader.cancel();
      const events = [...text.matchAll(/event: watch\ndata: (.*)\n/g)].map((match) => JSON.parse(match[1] as string) as { type: string; zxid: number });
      assert.deepEqual(events.map((e) => e.type), ['NodeCreated', 'NodeChildrenChanged']);
      assert.deepEqual(events.map((e) => e.zxid), [created.body.zxid, created.body.zxid]);

      assert.equal((await api(`/sessions/${session}`, { method: 'DELETE' })).status, 204);
      assert.equal((await api(`/nodes${r}/mine`)).body.error.code, 'NoNode', 'its ephemeral node went with it');
      assert.equal((await put(`/nodes${r}/again`, { ephemeral: true }, 'POST', as)).body.error.code, 'SessionExpired');
      assert.equal((await put('/multi', { ops: [{ op: 'create', path: `${r}/m` }, { op: 'delete', path: `${r}/nope` }] })).body.error.details.index, 1);
    });

    test('REST: a node path served the plain way and spelled otherwise (the lean route and Express) gets the same answers and errors', async () => {
      const r = root();
      await put(`/nodes${r}`, { data: b64('same') });
      // `/V1/Coordination` is not the plain spelling: Express serves it, as it serves every route.
      const both = async (path: string, init: RequestInit = {}) => {
        const [plain, other] = await Promise.all([`/v1/coordination${path}`, `/V1/Coordination${path}`].map((url) => call(`${platform.apiUrl}${url}`, init)));
        assert.ok(plain && other);
        const id = plain.headers.get('x-openstack-request-id');
        assert.match(id ?? '', /^req-[0-9a-f-]{36}$/);
        assert.match(other.headers.get('x-openstack-request-id') ?? '', /^req-[0-9a-f-]{36}$/);
        assert.equal(plain.headers.get('content-type'), other.headers.get('content-type'));
        assert.equal(plain.status, other.status);
        if (plain.body.error) {
          assert.equal(plain.body.error.request_id, id, 'the error body names its own exchange');
          assert.deepEqual({ ...plain.body.error, request_id: '' }, { ...other.body.error, request_id: '' });
        } else {
          assert.deepEqual(plain.body, other.body);
        }
        return plain;
      };
      assert.equal((await both(`/nodes${r}`)).body.data, b64('same'));
      assert.deepEqual((await both(`/nodes${r}?children=true`)).body.children, []);
      assert.equal((await both(`/nodes${r}/none`)).body.error.code, 'NoNode');
      assert.equal((await both(`/nodes${r}?watch=maybe`)).body.error.code, 'InvalidParameter');
      assert.equal((await both(`/nodes${r}`, { headers: { 'x-pratai-session': 'nope' } })).body.error.code, 'BadArguments');
      const json = { 'content-type': 'application/json' };
      assert.equal((await both(`/nodes${r}`, { method: 'PUT', headers: json, body: '{"data": ' })).body.error.code, 'InvalidJson');
      assert.equal((await both(`/nodes${r}`, { method: 'PUT', headers: json, body: JSON.stringify({ data: b64('x'), version: 7 }) })).body.error.code, 'BadVersion');
      // (An empty multi commits, each at its own zxid: a wrong one compares.)
      assert.equal((await both('/multi', { method: 'POST', headers: json, body: JSON.stringify({ ops: [{ op: 'rename' }] }) })).body.error.code, 'InvalidParameter');
      assert.equal((await both(`/nodes${r}/gone`, { method: 'DELETE' })).body.error.code, 'NoNode');
    });

    test('REST: an expired session is swept, its ephemeral nodes deleted', async () => {
      const r = root();
      await put(`/nodes${r}`, {});
      const session = (await put('/sessions', { timeout_ms: 600 })).body.session.session_id as string;
      await put(`/nodes${r}/brief`, { ephemeral: true }, 'POST', { 'x-pratai-session': session });
      await waitFor('the expired session to be swept', async () => ((await api(`/nodes${r}/brief`)).status === 404 ? true : undefined), 30_000);
      assert.equal((await api(`/sessions/${session}`)).body.error.code, 'SessionExpired');
    });
  });
}
