/**
 * The workflow store decides joins exactly once on every SQL database: ends of a join's
 * predecessors recorded at once from many callers, each recorded several times over (redelivered
 * jobs, a runner and the sweeper both recording), start the join once; a rank's join waits for
 * every rank; a failure stops what follows; the sweep finds the ends nobody recorded.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RequestRecord } from '../common/domain.js';
import { newId, now } from '../common/ids.js';
import { SqlStore } from '../common/store/sql-store.js';
import { parseStoreUrl } from '../common/store/url.js';
import type { ActionInstance, InvocationRecord, RequestMaker, WorkflowStore } from '../common/store/workflow-store.js';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from './helpers/databases.js';

const DOCUMENT = {
  WorkflowName: 'joins',
  FunctionInvoke: 'start',
  DefaultDataStore: 'S3',
  ComputeServers: {},
  DataStores: { S3: { Endpoint: 'local', Bucket: 'b' } },
  ActionList: {
    start: { FunctionName: 'f', InvokeNext: ['a', 'b', 'c'] },
    a: { FunctionName: 'f', InvokeNext: ['join'] },
    b: { FunctionName: 'f', InvokeNext: ['join'] },
    c: { FunctionName: 'f', InvokeNext: ['ranked(4)'] },
    ranked: { FunctionName: 'f', InvokeNext: ['join'] },
    join: { FunctionName: 'f', InvokeNext: [] },
  },
};

const request = (tenantId: string): RequestRecord => ({
  request_id: newId(),
  function_id: 'f'.repeat(32),
  tenant_id: tenantId,
  user_id: 'u',
  status: 'queued',
  payload: {},
  response: null,
  error: null,
  logs: [],
  attempts: 0,
  dead_letter: false,
  version: 'latest',
  alias: null,
  source: 'workflow',
  timer_id: null,
  scheduled_at: null,
  created_at: now(),
  started_at: null,
  finished_at: null,
  duration_ms: null,
});

const makeRequest: RequestMaker = (invocation) => request(invocation.tenant_id);

for (const kind of ['sqlite', 'postgres', 'mysql'] as TestDatabaseKind[]) {
  describe(`the workflow store on ${kind}`, () => {
    let database: TestDatabase;
    let store: SqlStore;
    let workflows: WorkflowStore;

    before(async () => {
      database = await createTestDatabase(kind);
      store = SqlStore.open(parseStoreUrl(database.url) as Parameters<typeof SqlStore.open>[0], { poolSize: 8 });
      await store.migrate();
      workflows = store.workflows();
    });
    after(async () => {
      await store.close();
      await database.drop();
    });

    async function started(): Promise<{ invocation: InvocationRecord; first: string }> {
      const invocation: InvocationRecord = {
        invocation_id: newId(),
        workflow_id: newId(),
        tenant_id: 't',
        user_id: 'u',
        faasr_invocation_id: newId(),
        timestamp: 'ts',
        status: 'running',
        document: DOCUMENT,
        function_id: 'f'.repeat(32),
        created_at: now(),
        finished_at: null,
      };
      const first = request('t');
      const instance: ActionInstance = { invocation_id: invocation.invocation_id, action: 'start', rank: 1, max_rank: 1, status: 'pending', request_id: first.request_id, branch: null, created_at: now(), finished_at: null };
      await workflows.createInvocation(invocation, [instance], [first]);
      return { invocation, first: first.request_id };
    }

    const end = { status: 'succeeded' as const, branch: null, at: now() };

    test('ends recorded at once and again and again start each successor once, the join after every predecessor and rank', async () => {
      const { invocation, first } = await started();
      const afterStart = await Promise.all([1, 2, 3].map(() => workflows.finishInstance(first, end, makeRequest)));
      assert.equal(afterStart.filter((a) => a?.recorded).length, 1, 'one of three records the end');
      assert.deepEqual(afterStart.flatMap((a) => a?.started ?? []).length, 3, 'a, b and c start once');
      const pending = async (action: string): Promise<string[]> =>
        (await workflows.listInstances(invocation.invocation_id)).filter((i) => i.action === action && i.status === 'pending').map((i) => i.request_id as string);
      const [c] = await pending('c');
      await workflows.finishInstance(c as string, end, makeRequest);
      const ranks = await pending('ranked');
      assert.equal(ranks.length, 4);
      // Every remaining predecessor of the join ends at once, each recorded three times.
      const ends = [...(await pending('a')), ...(await pending('b')), ...ranks];
      const results = await Promise.all(ends.flatMap((id) => [id, id, id]).map((id) => workflows.finishInstance(id, end, makeRequest)));
      assert.equal(results.filter((a) => a?.recorded).length, ends.length);
      const joins = results.flatMap((a) => a?.started ?? []);
      assert.equal(joins.length, 1, 'the join starts once');
      const instances = await workflows.listInstances(invocation.invocation_id);
      assert.equal(instances.filter((i) => i.action === 'join').length, 1);
      assert.equal((await workflows.getInvocation(invocation.invocation_id, 'all-tenants'))?.status, 'running');
      await workflows.finishInstance(joins[0]?.request_id as string, end, makeRequest);
      assert.equal((await workflows.getInvocation(invocation.invocation_id, 'all-tenants'))?.status, 'succeeded');
    });

    test('a failed action starts nothing after it; the invocation fails once nothing runs', async () => {
      const { invocation, first } = await started();
      const [advance] = await Promise.all([workflows.finishInstance(first, end, makeRequest)]);
      const byAction = new Map((await workflows.listInstances(invocation.invocation_id)).map((i) => [i.action, i.request_id as string]));
      const failed = await workflows.finishInstance(byAction.get('a') as string, { status: 'failed', branch: null, at: now() }, makeRequest);
      assert.equal(advance?.started.length, 3);
      assert.equal(failed?.invocation.status, 'running', 'b and c still run');
      await workflows.finishInstance(byAction.get('b') as string, end, makeRequest);
      const last = await workflows.finishInstance(byAction.get('c') as string, end, makeRequest);
      assert.deepEqual(last?.started, [], 'the rank after c does not start');
      assert.equal(last?.invocation.status, 'failed');
    });

    test('the sweep finds the ends nobody recorded: final requests of pending instances', async () => {
      const { first } = await started();
      assert.ok(!(await workflows.unrecordedEnds(100)).some((e) => e.request_id === first));
      await store.startRequest(first, { jobId: 'j', at: now() });
      await store.finishRequest(first, { status: 'succeeded', response: { result: true }, error: null, logs: [], finishedAt: now(), durationMs: 1 });
      const lost = await workflows.unrecordedEnds(100);
      assert.deepEqual(lost.filter((e) => e.request_id === first), [{ request_id: first, status: 'succeeded', response: { result: true } }]);
      await workflows.finishInstance(first, end, makeRequest);
      assert.ok(!(await workflows.unrecordedEnds(100)).some((e) => e.request_id === first));
    });
  });
}
