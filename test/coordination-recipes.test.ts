/**
 * pratai_runtime.coordination's recipes across concurrent requests on the real platform (Docker,
 * embedded SQLite): an Election whose leader's request is cancelled gets a new leader; a Barrier
 * holds its waiters until it is removed; a DoubleBarrier lets no one in before all have arrived,
 * and no one out before all are leaving. Each test works under a root node of its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { assertNoLeftoverContainers, call, deployFunction, invoke, removeFunctionImages, startTestPlatform, waitFor, waitForRequest, type TestPlatform } from './helpers/platform.js';

const MODULE = String.raw`
from pratai_runtime.coordination import Barrier, Client, DoubleBarrier, Election
import time

def main(payload):
    zk = Client()
    task = payload["task"]
    root = payload["root"]
    me = payload["me"]
    if task == "lead":
        def lead():
            zk.create(root + "/leader", me.encode(), ephemeral=True)
            zk.create(root + "/leaders/" + me)
            time.sleep(payload["hold"])
            zk.delete(root + "/leader")
            return me
        return Election(zk, root + "/election", me).run(lead)
    if task == "barrier":
        # Ephemeral: says this request is about to wait, and goes with its run.
        zk.create(root + "/waiting/" + me, ephemeral=True)
        if not Barrier(zk, root + "/gate").wait(150):
            raise TimeoutError("the barrier stayed")
        zk.create(root + "/passed/" + me)
        return me
    if task == "double":
        barrier = DoubleBarrier(zk, root + "/db", payload["clients"], me)
        zk.create(root + "/arrived/" + me)
        barrier.enter()
        inside = zk.get_children(root + "/arrived")
        zk.create(root + "/inside/" + me)
        zk.create(root + "/leaving/" + me)
        barrier.leave()
        return {"arrived_when_entered": sorted(inside), "leaving_when_left": sorted(zk.get_children(root + "/leaving"))}
    raise ValueError(task)
`;

describe('coordination recipes across concurrent requests', () => {
  let platform: TestPlatform;
  let fnId: string;
  let n = 0;
  const root = (): string => `/recipes${process.pid}x${(n += 1)}`;
  const api = (path: string, init: RequestInit = {}) => call(`${platform.apiUrl}/v1/coordination${path}`, init);
  const create = (path: string) => api(`/nodes${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  const children = async (path: string): Promise<string[]> => {
    const { status, body } = await api(`/nodes${path}?children=true`);
    return status === 200 ? (body.children as string[]).toSorted() : [];
  };

  before(async () => {
    platform = await startTestPlatform({
      runner: { concurrency: '10', platform_retries: '0' },
      coordination: { session_timeout_ms: '3000', sweep_interval_ms: '200' },
    });
    const fn = await deployFunction(platform, { 'new_module.py': MODULE }, { name: 'recipes', timeout: '180' });
    assert.equal(fn.status, 'ready', fn.build_log);
    fnId = fn.function_id;
  });
  after(async () => {
    await platform?.close();
    if (platform) assertNoLeftoverContainers(platform.runnerName);
    if (fnId !== undefined) removeFunctionImages([fnId]);
  });

  test("an Election gets a new leader when its leader's request is cancelled", async () => {
    const r = root();
    await create(r);
    await create(`${r}/leaders`);
    const doomed = await invoke(platform, fnId, { task: 'lead', root: r, me: 'doomed', hold: 600 });
    await waitFor('the first request to lead', async () => ((await api(`/nodes${r}/leader`)).status === 200 ? true : undefined), 120_000);
    const waiter = await invoke(platform, fnId, { task: 'lead', root: r, me: 'next', hold: 0 });
    await waitFor('the second request to contend', async () => ((await children(`${r}/election`)).length === 2 ? true : undefined), 120_000);
    assert.equal(Buffer.from((await api(`/nodes${r}/leader`)).body.data as string, 'base64').toString(), 'doomed', 'one leader while both contend');

    const cancelled = await call(`${platform.apiUrl}/v1/requests/${doomed}/cancel`, { method: 'POST' });
    assert.equal(cancelled.status, 200, JSON.stringify(cancelled.body));
    const next = await waitForRequest(platform, waiter, 120_000);
    assert.equal(next.status, 'succeeded', JSON.stringify(next.error));
    assert.equal(next.response, 'next');
    assert.equal((await waitForRequest(platform, doomed)).status, 'cancelled');
    assert.deepEqual(await children(`${r}/leaders`), ['doomed', 'next']);
    assert.deepEqual(await children(`${r}/election`), [], "every contender's node is gone");
  });

  test('a Barrier holds 3 concurrent requests until it is removed, then lets them all pass', async () => {
    const r = root();
    for (const path of [r, `${r}/waiting`, `${r}/passed`, `${r}/gate`]) assert.equal((await create(path)).status, 201);
    const waiters = await Promise.all(['b0', 'b1', 'b2'].map((me) => invoke(platform, fnId, { task: 'barrier', root: r, me })));
    await waitFor('the three requests to wait', async () => ((await children(`${r}/waiting`)).length === 3 ? true : undefined), 120_000);
    // Waiting is ready at once but blocks on the barrier: none is through while it stands.
    assert.deepEqual(await children(`${r}/passed`), []);

    assert.equal((await api(`/nodes${r}/gate`, { method: 'DELETE' })).status, 200);
    for (const id of waiters) {
      const done = await waitForRequest(platform, id, 120_000);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
    }
    assert.deepEqual(await children(`${r}/passed`), ['b0', 'b1', 'b2']);
  });

  test('a DoubleBarrier of 4 lets no request in before the fourth arrives, and none out before all are leaving', async () => {
    const r = root();
    for (const path of [r, `${r}/arrived`, `${r}/inside`, `${r}/leaving`]) await create(path);
    const payload = (me: string) => ({ task: 'double', root: r, me, clients: 4 });
    const early = await Promise.all(['d0', 'd1', 'd2'].map((me) => invoke(platform, fnId, payload(me))));
    await waitFor('three requests to arrive', async () => ((await children(`${r}/db`)).length === 3 ? true : undefined), 120_000);
    assert.deepEqual(await children(`${r}/inside`), [], 'three of four are not let in');

    const last = await invoke(platform, fnId, payload('d3'));
    const everyone = ['d0', 'd1', 'd2', 'd3'];
    for (const id of [...early, last]) {
      const done = await waitForRequest(platform, id, 120_000);
      assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
      assert.deepEqual(done.response, { arrived_when_entered: everyone, leaving_when_left: everyone });
    }
    assert.deepEqual(await children(`${r}/inside`), everyone);
    assert.deepEqual(await children(`${r}/db`), [], 'every member and the ready node are gone');
  });
});
