/**
 * The behaviour every Store adapter must have, whatever database is behind it. An adapter's test
 * file calls storeContract() with a way to make a fresh database; the tests it registers use only
 * the port (common/store/store.ts), through the same factory the processes use (common/store/factory.ts).
 * Each test works in tenants of its own, so that tests sharing the file's database never see each
 * other's rows.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test as nodeTest, type TestFn } from 'node:test';
import { defaultSettings } from '../common/config.js';
import { randomBytes } from 'node:crypto';
import type { AliasRecord, FunctionRecord, LogRecord, RequestRecord, SecretRecord, TimerRecord } from '../common/domain.js';
import { Keyring } from '../common/secrets/keyring.js';
import { resolveSecrets } from '../common/secrets/resolve.js';
import { PrataiError, type ErrorCode } from '../common/errors.js';
import { newId } from '../common/ids.js';
import { createStore } from '../common/store/factory.js';
import type { Outcome, RequestFilter, RunnerHeartbeat, StartResult, Store } from '../common/store/store.js';
import type { TestDatabase } from './helpers/databases.js';

export interface StoreContractOptions {
  /** A new, empty database, dropped by the contract when done. */
  createDatabase(): Promise<TestDatabase>;
  /** A connection URL whose server does not answer, with `password` in it; the store must name `where`. */
  unreachable?: { url: string; where: string; password: string };
  /** Set when the suite cannot run here: the reason is shown as the skip message. */
  skip?: string;
}

/** A store on `url`, as a process opens one; migrated unless told not to. */
/** Connections each store of these tests keeps open to a database server. */
const POOL_SIZE = 4;

export async function connect(url: string, { migrate = true } = {}): Promise<Store> {
  const store = await createStore(defaultSettings({ database: { connection: url, max_pool_size: String(POOL_SIZE) } }));
  if (migrate) await store.migrate();
  return store;
}

const tenant = (): string => `tenant-${newId().slice(-12)}`;

/** Distinct, increasing ISO times in the recent past: `at(0) < at(1) < …`. */
const BASE_MS = Date.parse('2026-01-01T00:00:00.000Z');
const at = (seconds: number): string => new Date(BASE_MS + seconds * 1000).toISOString();

export function aFunction(tenantId: string, fields: Partial<FunctionRecord> = {}): FunctionRecord {
  return {
    function_id: newId(),
    user_id: 'user-1',
    tenant_id: tenantId,
    name: `fn-${newId().slice(-8)}`,
    description: 'a function',
    type: 'async',
    event: 'webhook',
    public: false,
    runtime: 'python3',
    memory: 128,
    cpus: 0.5,
    timeout: 30,
    retries: 0,
    retry_on_error: false,
    max_concurrency: 0,
    network: false,
    context: {},
    secrets: [],
    subscriptions: [],
    status: 'building',
    build_log: '',
    code_sha256: 'a'.repeat(64),
    created_at: at(0),
    updated_at: at(0),
    ...fields,
  };
}

const CODE = { module: 'def main(payload=None):\n    return payload\n', requirements: 'requests==2.31.0\n' };

export function aRequest(fn: FunctionRecord, fields: Partial<RequestRecord> = {}): RequestRecord {
  return {
    request_id: newId(),
    function_id: fn.function_id,
    tenant_id: fn.tenant_id,
    user_id: fn.user_id,
    status: 'queued',
    source: 'webhook',
    timer_id: null,
    scheduled_at: null,
    payload: { key: 'value' },
    response: null,
    error: null,
    logs: [],
    attempts: 0,
    dead_letter: false,
    version: 'latest',
    alias: null,
    created_at: at(10),
    started_at: null,
    finished_at: null,
    duration_ms: null,
    ...fields,
  };
}

/** A running timer of `fn`, every second, its next tick at `next`. */
export function aTimer(fn: FunctionRecord, fields: Partial<TimerRecord> = {}): TimerRecord {
  return {
    timer_id: newId(),
    tenant_id: fn.tenant_id,
    user_id: fn.user_id,
    function_id: fn.function_id,
    name: 'every second',
    pattern: '* * * * * *',
    timezone: 'UTC',
    payload: { tick: true },
    status: 'running',
    count: null,
    executions: 0,
    skipped: 0,
    first_execution_time: null,
    next_execution_time: at(100),
    last_execution_time: null,
    last_request_ids: [],
    qualifier: null,
    version: 0,
    created_at: at(1),
    updated_at: at(1),
    ...fields,
  };
}

/** A secret as the store holds it; its ciphertext stands for a sealed value (the store never opens one). */
export function aSecret(tenantId: string, name: string, fields: Partial<SecretRecord> = {}): SecretRecord {
  return { tenant_id: tenantId, name, key_id: 'abcd1234', ciphertext: Buffer.from(`sealed ${name}`).toString('base64'), version: 1, created_at: at(0), updated_at: at(0), ...fields };
}

const outcome = (status: Outcome['status'], fields: Partial<Outcome> = {}): Outcome => ({
  status,
  response: status === 'succeeded' ? { ok: true } : null,
  error: status === 'succeeded' ? null : { type: 'ValueError', message: 'bad', traceback: 'Traceback ...' },
  logs: [{ time: at(20), level: 'INFO', source: 'pratai', message: 'hello' }],
  finishedAt: at(20),
  durationMs: 12.5,
  ...fields,
});

/** The run job most tests start requests with. */
const JOB = 'job-1';

/** Asks `store` to start a request as run job `jobId` would. */
const begin = (store: Store, requestId: string, jobId = JOB, when = at(11)): Promise<StartResult> => store.startRequest(requestId, { jobId, at: when });

/** The request `begin` started, or a failure saying why it did not start. */
async function started(store: Store, requestId: string, jobId = JOB, when = at(11)): Promise<RequestRecord> {
  const result = await begin(store, requestId, jobId, when);
  assert.ok(result.started, `expected request ${requestId} to start, got ${JSON.stringify(result)}`);
  return result.request;
}

/** Why `begin` did not start the request (or `started`). */
const reasonOf = (result: StartResult): string => (result.started ? 'started' : result.reason);

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<PrataiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PrataiError, `expected a PrataiError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (message) assert.match(error.message, message);
    return error;
  }
  assert.fail(`expected a PrataiError ${code}, but it resolved`);
}

export function storeContract(name: string, options: StoreContractOptions): void {
  // Where the contract cannot run, each of its tests is reported skipped, one by one: the run's
  // summary counts them rather than hiding them in one skipped suite.
  const test = (title: string, ...rest: [TestFn] | [{ skip?: string | false }, TestFn]): void => {
    const [own, fn] = rest.length === 1 ? [{}, rest[0]] : rest;
    void nodeTest(title, { ...own, ...(options.skip !== undefined && { skip: options.skip }) }, fn);
  };
  describe(`${name} store contract`, () => {
    let database: TestDatabase;
    let store: Store;
    /** Every other store a test opened on the file's database, closed at the end. */
    const opened: Store[] = [];
    const another = async (): Promise<Store> => {
      const next = await connect(database.url);
      opened.push(next);
      return next;
    };

    before(async () => {
      if (options.skip !== undefined) return;
      database = await options.createDatabase();
      store = await connect(database.url);
    });
    after(async () => {
      for (const each of [store, ...opened]) await each?.close();
      await database?.drop();
    });

    describe('functions', () => {
      test('a created function reads back with every field, and its code apart', async () => {
        const fn = aFunction(tenant(), { public: true, network: true, description: 'déjà vu 🚀' });
        await store.createFunction(fn, CODE);
        assert.deepEqual(await store.getFunction(fn.function_id, { tenantId: fn.tenant_id }), fn);
        assert.deepEqual(await store.getFunction(fn.function_id, 'all-tenants'), fn);
        assert.deepEqual(await store.getFunctionCode(fn.function_id), CODE);
        assert.equal(await store.getFunction(newId(), 'all-tenants'), undefined);
        assert.equal(await store.getFunctionCode(newId()), undefined);
      });

      test('a second function of one name in a project is refused with FunctionNameTaken; names differ by case and by project', async () => {
        const project = tenant();
        await store.createFunction(aFunction(project, { name: 'echo' }), CODE);
        await rejectsWith(store.createFunction(aFunction(project, { name: 'echo' }), CODE), 'FunctionNameTaken', /echo/);
        await store.createFunction(aFunction(project, { name: 'Echo' }), CODE);
        await store.createFunction(aFunction(tenant(), { name: 'echo' }), CODE);
        assert.deepEqual((await store.listFunctions({ tenantId: project })).map((fn) => fn.name).sort(), ['Echo', 'echo']);
      });

      test('functions are listed newest first, and a project sees only its own', async () => {
        const [mine, theirs] = [tenant(), tenant()];
        const created = [aFunction(mine, { created_at: at(1) }), aFunction(mine, { created_at: at(3) }), aFunction(mine, { created_at: at(2) })];
        const other = aFunction(theirs);
        for (const fn of [...created, other]) await store.createFunction(fn, CODE);
        const listed = await store.listFunctions({ tenantId: mine });
        assert.deepEqual(listed.map((fn) => fn.created_at), [at(3), at(2), at(1)]);
        assert.deepEqual(await store.listFunctions({ tenantId: theirs }), [other]);
        assert.equal(await store.getFunction(other.function_id, { tenantId: mine }), undefined, 'another project’s function is invisible');
        const everyone = new Set((await store.listFunctions('all-tenants')).map((fn) => fn.function_id));
        for (const fn of [...created, other]) assert.ok(everyone.has(fn.function_id));
      });

      test('a build result is recorded only while the function still has that code', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        assert.equal(await store.setFunctionBuild(fn.function_id, 'b'.repeat(64), 'ready', 'stale build'), false);
        assert.equal((await store.getFunction(fn.function_id, 'all-tenants'))?.status, 'building');
        assert.equal(await store.setFunctionBuild(fn.function_id, fn.code_sha256, 'error', 'pip failed'), true);
        const built = await store.getFunction(fn.function_id, 'all-tenants');
        assert.equal(built?.status, 'error');
        assert.equal(built?.build_log, 'pip failed');
      });

      test('an update changes settings and code; a rename to a taken name is refused; a gone function reports false', async () => {
        const project = tenant();
        const fn = aFunction(project, { name: 'first' });
        await store.createFunction(fn, CODE);
        await store.createFunction(aFunction(project, { name: 'taken' }), CODE);
        const code = { module: 'def main(payload=None):\n    return 2\n', requirements: '' };
        const changed = await store.updateFunction(
          fn.function_id,
          { name: 'renamed', memory: 256, public: true, network: true, code_sha256: 'c'.repeat(64), status: 'building', updated_at: at(5) },
          code,
        );
        assert.equal(changed, true);
        const updated = await store.getFunction(fn.function_id, { tenantId: project });
        assert.deepEqual(updated, { ...fn, name: 'renamed', memory: 256, public: true, network: true, code_sha256: 'c'.repeat(64), updated_at: at(5) });
        assert.equal(await store.updateFunction(fn.function_id, { network: false, updated_at: at(6) }), true);
        assert.equal((await store.getFunction(fn.function_id, 'all-tenants'))?.network, false, 'network is turned off again');
        assert.deepEqual(await store.getFunctionCode(fn.function_id), code);
        await rejectsWith(store.updateFunction(fn.function_id, { name: 'taken', updated_at: at(6) }), 'FunctionNameTaken', /taken/);
        assert.equal(await store.updateFunction(newId(), { memory: 512, updated_at: at(6) }), false);
      });

      test('deleting a function removes it and its code but keeps its requests', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        const request = aRequest(fn);
        await store.createRequest(request);
        assert.equal(await store.deleteFunction(fn.function_id), true);
        assert.equal(await store.deleteFunction(fn.function_id), false);
        assert.equal(await store.getFunction(fn.function_id, 'all-tenants'), undefined);
        assert.equal(await store.getFunctionCode(fn.function_id), undefined);
        assert.deepEqual(await store.getRequest(request.request_id, 'all-tenants'), request);
      });
    });

    describe('requests', () => {
      test('a request reads back exactly as stored, and only in its own project', async () => {
        const fn = aFunction(tenant());
        const request = aRequest(fn, { payload: { nested: [1, 2.5, null, true], text: 'naïve ☃ 😀', empty: {} } });
        await store.createRequest(request);
        assert.deepEqual(await store.getRequest(request.request_id, { tenantId: fn.tenant_id }), request);
        assert.equal(await store.getRequest(request.request_id, { tenantId: tenant() }), undefined);
        const scalar = aRequest(fn, { payload: null });
        await store.createRequest(scalar);
        assert.deepEqual(await store.getRequest(scalar.request_id, 'all-tenants'), scalar);
      });

      test('a discarded request is gone', async () => {
        const request = aRequest(aFunction(tenant()));
        await store.createRequest(request);
        await store.discardRequest(request.request_id);
        assert.equal(await store.getRequest(request.request_id, 'all-tenants'), undefined);
      });

      test('requests are listed newest first and paged by marker with no gap and no repeat', async () => {
        const fn = aFunction(tenant());
        const other = aFunction(fn.tenant_id);
        // Two pairs share a creation time: the request id breaks the tie.
        const times = [at(100), at(101), at(101), at(102), at(103), at(103), at(104)];
        const requests = times.map((created_at, i) => aRequest(i === 6 ? other : fn, { created_at, status: i % 2 === 0 ? 'queued' : 'succeeded' }));
        for (const request of requests) await store.createRequest(request);
        const newestFirst = [...requests].sort((a, b) => b.created_at.localeCompare(a.created_at) || b.request_id.localeCompare(a.request_id));
        const scope = { tenantId: fn.tenant_id };

        const paged: string[] = [];
        let marker: string | undefined;
        for (;;) {
          const page = await store.listRequests(scope, { limit: 3, ...(marker !== undefined && { marker }) });
          paged.push(...page.map((request) => request.request_id));
          if (page.length < 3) break;
          marker = page.at(-1)?.request_id;
        }
        assert.deepEqual(paged, newestFirst.map((request) => request.request_id));

        const ids = (list: RequestRecord[]): string[] => list.map((request) => request.request_id);
        assert.deepEqual(ids(await store.listRequests(scope, { limit: 100, functionId: other.function_id })), [requests[6]?.request_id]);
        assert.deepEqual(
          ids(await store.listRequests(scope, { limit: 100, status: 'succeeded' })),
          ids(newestFirst.filter((request) => request.status === 'succeeded')),
        );
        assert.deepEqual(ids(await store.listRequests(scope, { limit: 100, requestId: requests[2]?.request_id })), [requests[2]?.request_id]);
        assert.deepEqual(
          ids(await store.listRequests(scope, { limit: 100, queuedBefore: at(102) })),
          ids(newestFirst.filter((request) => request.created_at < at(102))),
        );
        assert.deepEqual(await store.listRequests({ tenantId: tenant() }, { limit: 100 }), [], 'another project sees none of them');
      });

      test('a marker that names no request the caller can see is refused with InvalidParameter', async () => {
        const request = aRequest(aFunction(tenant()));
        await store.createRequest(request);
        await rejectsWith(store.listRequests({ tenantId: request.tenant_id }, { limit: 10, marker: newId() }), 'InvalidParameter', /marker/);
        await rejectsWith(store.listRequests({ tenantId: tenant() }, { limit: 10, marker: request.request_id }), 'InvalidParameter', /marker/);
      });

      test('a request goes queued, running, then one outcome, and never runs or ends again once final', async () => {
        const request = aRequest(aFunction(tenant()));
        await store.createRequest(request);
        assert.equal(await store.finishRequest(request.request_id, outcome('succeeded')), false, 'a queued request cannot succeed');
        const first = await started(store, request.request_id);
        assert.equal(first.status, 'running');
        assert.equal(first.attempts, 1);
        assert.equal(first.started_at, at(11));
        assert.equal(reasonOf(await begin(store, request.request_id, 'job-2')), 'duplicate', 'another job never takes a running request');
        assert.equal((await started(store, request.request_id, JOB, at(12))).attempts, 2, 'its own job, redelivered, runs it again, counted');
        assert.equal(await store.finishRequest(request.request_id, outcome('failed')), true);
        assert.equal(await store.finishRequest(request.request_id, outcome('succeeded')), false);
        assert.equal(await store.cancelRequest(request.request_id, 'too late', at(30)), false);
        assert.equal(reasonOf(await begin(store, request.request_id, JOB, at(31))), 'final');
        assert.equal(reasonOf(await begin(store, newId(), JOB, at(31))), 'final');
        const stored = await store.getRequest(request.request_id, 'all-tenants');
        assert.equal(stored?.status, 'failed');
        assert.deepEqual(stored?.error, outcome('failed').error);
        assert.deepEqual(stored?.logs, outcome('failed').logs);
        assert.equal(stored?.duration_ms, 12.5);
        assert.equal(stored?.finished_at, at(20));
      });

      test('of many runners racing to start, finish and cancel one request, exactly one outcome is stored', async () => {
        // Stores of their own: the file's `store` keeps to one connection at a time, so that the
        // reconnect test below finds one connection to kill, not a pool of them.
        const runners = [await another(), await another(), await another(), await another()];
        const fn = aFunction(tenant());
        const statuses = ['succeeded', 'failed', 'timeout'] as const;
        for (let round = 0; round < 10; round += 1) {
          const request = aRequest(fn);
          await store.createRequest(request);
          // Even rounds: every runner has started it before the outcomes race. Odd rounds: starts,
          // outcomes and a cancel all at once, in whatever order the database takes them.
          // One job, redelivered to every runner: each may start the request again.
          const early = round % 2 === 0 ? await Promise.all(runners.map((runner) => begin(runner, request.request_id))) : [];
          const [starts, outcomes] = await Promise.all([
            Promise.all(round % 2 === 0 ? [] : runners.slice(0, 2).map((runner) => begin(runner, request.request_id))),
            Promise.all(
              runners.map((runner, i) =>
                i === runners.length - 1
                  ? runner.cancelRequest(request.request_id, 'cancelled by its owner', at(21))
                  : runner.finishRequest(request.request_id, outcome(statuses[i % 3] ?? 'failed', { response: i, durationMs: i })),
              ),
            ),
          ]);
          assert.equal(outcomes.filter(Boolean).length, 1, `round ${round}: exactly one outcome wins, got ${JSON.stringify(outcomes)}`);
          const winner = outcomes.indexOf(true);
          const stored = await store.getRequest(request.request_id, 'all-tenants');
          assert.equal(stored?.attempts, [...early, ...starts].filter((start) => start.started).length, 'every start that ran was counted, and no other');
          if (winner === runners.length - 1) {
            assert.equal(stored?.status, 'cancelled');
          } else {
            assert.equal(stored?.status, statuses[winner % 3]);
            assert.equal(stored?.response, winner, 'the stored outcome is the winner’s, whole');
            assert.equal(stored?.duration_ms, winner);
          }
        }
      });

      test('cancelling a function’s queued requests ends only those, and the runners can find them', async () => {
        const fn = aFunction(tenant());
        const queued = [aRequest(fn), aRequest(fn)];
        const running = aRequest(fn);
        const elsewhere = aRequest(aFunction(fn.tenant_id));
        for (const request of [...queued, running, elsewhere]) await store.createRequest(request);
        await started(store, running.request_id);
        assert.equal(await store.cancelQueuedRequests(fn.function_id, 'function deleted', at(40)), 2);
        const all = [...queued, running, elsewhere].map((request) => request.request_id);
        assert.deepEqual((await store.cancelledAmong(all)).sort(), queued.map((request) => request.request_id).sort());
        assert.deepEqual(await store.cancelledAmong([]), []);
        const cancelled = await store.getRequest(queued[0]?.request_id ?? '', 'all-tenants');
        assert.deepEqual(cancelled?.error, { type: 'Cancelled', message: 'function deleted', traceback: '' });
        assert.equal(cancelled?.finished_at, at(40));
        assert.equal(await store.cancelRequest(running.request_id, 'stop', at(41)), true);
        assert.equal((await store.getRequest(running.request_id, 'all-tenants'))?.status, 'cancelled');
      });

      test('logs of 1 MB and a 1 MB payload round-trip unchanged', async () => {
        const line = 'ünïcødé 🚀 log line '.padEnd(100, 'x');
        const logs: LogRecord[] = Array.from({ length: 10_500 }, (_, i) => ({ time: at(i), level: 'INFO', source: 'stdout', message: `${i} ${line}` }));
        assert.ok(JSON.stringify(logs).length > 1024 * 1024);
        const payload = { blob: 'é'.repeat(512 * 1024) };
        const request = aRequest(aFunction(tenant()), { payload });
        await store.createRequest(request);
        await started(store, request.request_id);
        assert.equal(await store.finishRequest(request.request_id, outcome('succeeded', { logs, response: payload })), true);
        const stored = await store.getRequest(request.request_id, 'all-tenants');
        assert.deepEqual(stored?.logs, logs);
        assert.deepEqual(stored?.payload, payload);
        assert.deepEqual(stored?.response, payload);
      });

      test('the purge deletes requests finished before its cutoff and keeps queued, running and newer ones', async () => {
        const fn = aFunction(tenant());
        const old = '2001-01-01T00:00:00.000Z';
        const cutoff = '2001-02-01T00:00:00.000Z';
        const finishedLongAgo = ['succeeded', 'failed', 'timeout', 'cancelled'].map((status) =>
          aRequest(fn, { status: status as RequestRecord['status'], created_at: old, finished_at: old }),
        );
        const kept = [
          aRequest(fn, { status: 'queued', created_at: old }),
          aRequest(fn, { status: 'running', created_at: old, started_at: old }),
          aRequest(fn, { status: 'succeeded', created_at: old, finished_at: cutoff }),
        ];
        for (const request of [...finishedLongAgo, ...kept]) await store.createRequest(request);
        assert.equal(await store.purgeFinishedRequests(cutoff), finishedLongAgo.length);
        const left = await store.listRequests({ tenantId: fn.tenant_id }, { limit: 100 });
        assert.deepEqual(left.map((request) => request.request_id).sort(), kept.map((request) => request.request_id).sort());
        assert.equal(await store.purgeFinishedRequests(cutoff), 0);
      });
    });

    describe('slots, retries and dead letters', () => {
      /** A stored function with `max_concurrency` and `count` queued requests of it. */
      const functionWithRequests = async (maxConcurrency: number, count: number): Promise<{ fn: FunctionRecord; ids: string[] }> => {
        const fn = aFunction(tenant(), { max_concurrency: maxConcurrency });
        await store.createFunction(fn, CODE);
        const ids: string[] = [];
        for (let i = 0; i < count; i += 1) {
          const request = aRequest(fn);
          await store.createRequest(request);
          ids.push(request.request_id);
        }
        return { fn, ids };
      };
      const statusOf = async (requestId: string): Promise<string | undefined> => (await store.getRequest(requestId, 'all-tenants'))?.status;

      test('runners racing to start requests never run more of a function at once than its max_concurrency; an end frees a slot, a redelivery keeps its own', async () => {
        // Stores of their own, as in the race above.
        const runners = [await another(), await another(), await another(), await another()];
        const { ids } = await functionWithRequests(2, 8);
        // Every runner holds a job of every request (as after the sweeper's duplicates) and they all start at once.
        const race = async (candidates: readonly string[]): Promise<{ id: string; jobId: string }[]> => {
          const attempts = runners.flatMap((runner, r) => candidates.map((id) => ({ runner, id, jobId: `job-${r}-${id.slice(-16)}` })));
          const results = await Promise.all(attempts.map(({ runner, id, jobId }) => begin(runner, id, jobId)));
          return attempts.filter((_, i) => results[i]?.started);
        };
        const first = await race(ids);
        assert.equal(first.length, 2, 'two slots, two starts');
        const waiting = ids.filter((id) => !first.some((start) => start.id === id));
        for (const id of waiting) assert.equal(await statusOf(id), 'queued', 'a request beyond the limit stays queued');

        const [held, other] = first as [{ id: string; jobId: string }, { id: string; jobId: string }];
        assert.equal((await started(store, held.id, held.jobId, at(12))).attempts, 2, 'the redelivered job runs it again in the slot it holds');
        assert.equal(reasonOf(await begin(store, waiting[0] ?? '', 'late-job')), 'at_capacity', 'the redelivery took no second slot');

        assert.equal(await store.finishRequest(held.id, outcome('succeeded')), true);
        const second = await race(waiting);
        assert.equal(second.length, 1, 'one end, one slot freed, one start');
        assert.equal(await store.cancelRequest(other.id, 'stop', at(30)), true);
        const third = await race(waiting.filter((id) => id !== second[0]?.id));
        assert.equal(third.length, 1, 'a cancel frees its slot too');
      });

      test('a function without max_concurrency takes no slot: all its requests start', async () => {
        const { ids } = await functionWithRequests(0, 5);
        for (const id of ids) assert.equal((await started(store, id)).status, 'running');
      });

      test('a failed attempt queued again keeps its error and logs, gives back its slot, and its next start is counted', async () => {
        const { ids } = await functionWithRequests(1, 2);
        const [retried, next] = ids as [string, string];
        await started(store, retried);
        const failure = outcome('failed');
        assert.equal(await store.requeueRequest(retried, { attempt: 1, error: failure.error, logs: failure.logs, at: at(25) }), true);
        const queued = await store.getRequest(retried, 'all-tenants');
        assert.equal(queued?.status, 'queued');
        assert.deepEqual(queued?.error, failure.error, "the failed attempt's error stays visible");
        assert.deepEqual(queued?.logs, failure.logs);
        assert.equal(queued?.attempts, 1);
        assert.deepEqual(
          (await store.listRequests({ tenantId: queued?.tenant_id ?? '' }, { limit: 10, status: 'queued', queuedBefore: at(26) })).map((request) => request.request_id).sort(),
          [...ids].sort(),
          'queued again at 25 s, it counts as queued since then',
        );
        await started(store, next, 'job-2');
        assert.equal(reasonOf(await begin(store, retried, 'job-3')), 'at_capacity', 'its slot went to the other request');
        assert.equal(await store.finishRequest(next, outcome('succeeded')), true);
        assert.equal((await started(store, retried, 'job-3')).attempts, 2);
        assert.equal(await store.requeueRequest(next, { attempt: 1, error: null, logs: [], at: at(40) }), false, 'only a running request is queued again');
      });

      test('an attempt overtaken by a redelivery of its job can neither store its outcome nor queue the request again', async () => {
        const { ids } = await functionWithRequests(1, 1);
        const [id] = ids as [string];
        await started(store, id);
        await started(store, id, JOB, at(12));
        assert.equal(await store.finishRequest(id, outcome('succeeded', { attempt: 1 })), false);
        assert.equal(await store.requeueRequest(id, { attempt: 1, error: null, logs: [], at: at(13) }), false);
        assert.equal(await statusOf(id), 'running');
        assert.equal(await store.finishRequest(id, outcome('failed', { attempt: 2 })), true, 'the attempt under way stores its outcome');
        assert.equal(await statusOf(id), 'failed');
      });

      test('a request older than the expiry cutoff is not started but ends failed with RequestExpired, dead-lettered, its slot given back', async () => {
        const { ids } = await functionWithRequests(1, 3);
        const [queued, running, after] = ids as [string, string, string];
        const expire = { createdBefore: at(50), message: 'too old' };
        assert.equal(reasonOf(await store.startRequest(queued, { jobId: JOB, at: at(60), expire })), 'expired');
        const expired = await store.getRequest(queued, 'all-tenants');
        assert.equal(expired?.status, 'failed');
        assert.deepEqual(expired?.error, { type: 'RequestExpired', message: 'too old', traceback: '' });
        assert.equal(expired?.dead_letter, true);
        assert.equal(expired?.attempts, 0, 'never started');

        await started(store, running, 'job-a');
        assert.equal(reasonOf(await store.startRequest(running, { jobId: 'job-b', at: at(60), expire })), 'duplicate', 'a duplicate job never ends a request another job holds');
        assert.equal(await statusOf(running), 'running');
        assert.equal(reasonOf(await store.startRequest(running, { jobId: 'job-a', at: at(60), expire })), 'expired', 'its own job, redelivered, finds it expired');
        assert.equal(await statusOf(running), 'failed');
        assert.equal((await started(store, after)).status, 'running', 'the expired request gave back its slot');
      });

      test('dead-lettered requests are listed apart and redriven once: queued again, attempts reset, last error kept', async () => {
        const { fn, ids } = await functionWithRequests(0, 3);
        const [dead, failed] = ids as [string, string];
        await started(store, dead);
        await started(store, dead);
        assert.equal(await store.finishRequest(dead, outcome('failed', { deadLetter: true })), true);
        await started(store, failed);
        assert.equal(await store.finishRequest(failed, outcome('failed')), true);
        const scope = { tenantId: fn.tenant_id };
        assert.deepEqual((await store.listRequests(scope, { limit: 10, deadLetter: true })).map((request) => request.request_id), [dead]);
        assert.equal((await store.listRequests(scope, { limit: 10, deadLetter: false })).length, 2);

        assert.equal(await store.redriveRequest(failed, at(70)), false, 'a failure that was not dead-lettered is not redriven');
        assert.equal(await store.redriveRequest(newId(), at(70)), false);
        assert.equal(await store.redriveRequest(dead, at(70)), true);
        assert.equal(await store.redriveRequest(dead, at(71)), false, 'twice is once');
        const redriven = await store.getRequest(dead, 'all-tenants');
        assert.equal(redriven?.status, 'queued');
        assert.equal(redriven?.attempts, 0);
        assert.equal(redriven?.dead_letter, false);
        assert.equal(redriven?.finished_at, null);
        assert.deepEqual(redriven?.error, outcome('failed').error, 'the error that dead-lettered it stays visible until the next attempt');
        assert.deepEqual((await store.listRequests(scope, { limit: 10, deadLetter: true })), []);
        assert.deepEqual((await store.listRequests(scope, { limit: 10, status: 'queued', queuedBefore: at(70) })).map((request) => request.request_id), [ids[2]], 'queued again at 70 s');
        assert.equal((await started(store, dead, 'job-after-redrive')).attempts, 1);
      });
    });

    describe('secrets and context', () => {
      test('a secret reads back by project and name, is listed by name, and a second of one name in a project is refused with SecretExists', async () => {
        const [mine, theirs] = [tenant(), tenant()];
        const secrets = [aSecret(mine, 'zeta'), aSecret(mine, 'ALPHA.key-1', { ciphertext: 'x'.repeat(90_000) }), aSecret(mine, 'alpha')];
        for (const secret of secrets) await store.createSecret(secret);
        await store.createSecret(aSecret(theirs, 'alpha'));
        assert.deepEqual(await store.getSecret(mine, 'zeta'), secrets[0]);
        assert.equal(await store.getSecret(theirs, 'zeta'), undefined, 'another project’s secret is invisible');
        assert.deepEqual((await store.listSecrets({ tenantId: mine })).map((secret) => secret.name), ['ALPHA.key-1', 'alpha', 'zeta']);
        assert.deepEqual(await store.listSecrets({ tenantId: mine }, ['alpha', 'nothing']), [secrets[2]]);
        assert.deepEqual(await store.listSecrets({ tenantId: mine }, []), []);
        const everyone = await store.listSecrets('all-tenants');
        assert.ok(everyone.some((secret) => secret.tenant_id === theirs && secret.name === 'alpha'));
        await rejectsWith(store.createSecret(aSecret(mine, 'alpha', { ciphertext: 'other' })), 'SecretExists', /alpha/);
        assert.deepEqual(await store.getSecret(mine, 'alpha'), secrets[2], 'the first one is kept');
      });

      test('a change of value counts a new version; a re-seal applies only while the secret holds what was read, and keeps its version', async () => {
        const project = tenant();
        const secret = aSecret(project, 'token');
        await store.createSecret(secret);
        assert.equal(await store.updateSecret(project, 'token', { key_id: 'beef0001', ciphertext: 'djI=' }, at(5)), true);
        const changed = await store.getSecret(project, 'token');
        assert.deepEqual(changed, { ...secret, key_id: 'beef0001', ciphertext: 'djI=', version: 2, updated_at: at(5) });
        assert.equal(await store.resealSecret(project, 'token', secret, { key_id: 'cafe0002', ciphertext: 'c3RhbGU=' }), false, 'what was read is no longer there');
        assert.equal(await store.resealSecret(project, 'token', changed, { key_id: 'cafe0002', ciphertext: 'djI9' }), true);
        assert.deepEqual(await store.getSecret(project, 'token'), { ...changed, key_id: 'cafe0002', ciphertext: 'djI9' });
        assert.equal(await store.updateSecret(tenant(), 'token', { key_id: 'beef0001', ciphertext: 'x' }, at(6)), false, 'not in another project');
        assert.equal(await store.updateSecret(project, 'gone', { key_id: 'beef0001', ciphertext: 'x' }, at(6)), false);
      });

      test('a function keeps its context and secret names; naming a secret its project lacks is UnknownSecret, and nothing is stored or changed', async () => {
        const [project, other] = [tenant(), tenant()];
        await store.createSecret(aSecret(project, 'db_password'));
        await store.createSecret(aSecret(project, 'api.key'));
        await store.createSecret(aSecret(other, 'foreign'));
        const fn = aFunction(project, { context: { REGION: 'eu-1', EMPTY: '', note: 'déjà vu 🚀' }, secrets: ['db_password', 'api.key'] });
        await store.createFunction(fn, CODE);
        assert.deepEqual(await store.getFunction(fn.function_id, { tenantId: project }), fn);
        assert.deepEqual((await store.listFunctions({ tenantId: project }))[0], fn);

        const refused = aFunction(project, { secrets: ['db_password', 'foreign'] });
        await rejectsWith(store.createFunction(refused, CODE), 'UnknownSecret', /`foreign`/);
        assert.equal(await store.getFunction(refused.function_id, 'all-tenants'), undefined);
        assert.deepEqual((await store.listFunctions({ tenantId: project })).map((each) => each.function_id), [fn.function_id]);

        await rejectsWith(store.updateFunction(fn.function_id, { secrets: ['nope'], memory: 512, updated_at: at(7) }), 'UnknownSecret', /`nope`/);
        assert.deepEqual(await store.getFunction(fn.function_id, 'all-tenants'), fn, 'nothing changed');
        assert.equal(await store.updateFunction(fn.function_id, { secrets: ['api.key'], context: {}, updated_at: at(8) }), true);
        assert.deepEqual(await store.getFunction(fn.function_id, 'all-tenants'), { ...fn, secrets: ['api.key'], context: {}, updated_at: at(8) });
        assert.deepEqual((await store.listSecretUses(project)).map((use) => [use.secret, use.function_id]), [['api.key', fn.function_id]]);
        assert.equal(await store.updateFunction(newId(), { secrets: [], updated_at: at(9) }), false);
      });

      test('a secret a function names is not deleted (SecretInUse naming the functions) until none names it', async () => {
        const project = tenant();
        await store.createSecret(aSecret(project, 'shared'));
        await store.createSecret(aSecret(project, 'spare'));
        const first = aFunction(project, { name: 'b-first', secrets: ['shared'] });
        const second = aFunction(project, { name: 'a-second', secrets: ['shared', 'spare'] });
        for (const fn of [first, second]) await store.createFunction(fn, CODE);
        assert.deepEqual(await store.listSecretUses(project, 'shared'), [
          { secret: 'shared', function_id: second.function_id, function_name: 'a-second' },
          { secret: 'shared', function_id: first.function_id, function_name: 'b-first' },
        ]);
        assert.deepEqual((await store.listSecretUses(project)).map((use) => `${use.secret}:${use.function_name}`), ['shared:a-second', 'shared:b-first', 'spare:a-second']);
        assert.deepEqual(await store.listSecretUses(tenant()), []);
        const inUse = await rejectsWith(store.deleteSecret(project, 'shared'), 'SecretInUse', /b-first/);
        assert.deepEqual(inUse.details?.functions, [
          { function_id: second.function_id, name: 'a-second' },
          { function_id: first.function_id, name: 'b-first' },
        ]);
        assert.ok(await store.getSecret(project, 'shared'), 'still there');
        assert.equal(await store.deleteFunction(first.function_id), true);
        assert.equal(await store.updateFunction(second.function_id, { secrets: ['spare'], updated_at: at(3) }), true);
        assert.equal(await store.deleteSecret(project, 'shared'), true);
        assert.equal(await store.deleteSecret(project, 'shared'), false);
        assert.equal(await store.getSecret(project, 'shared'), undefined);
        await rejectsWith(store.deleteSecret(project, 'spare'), 'SecretInUse', /a-second/);
        assert.equal(await store.deleteFunction(second.function_id), true);
        assert.equal(await store.deleteSecret(project, 'spare'), true);
      });

      test('resolveSecrets opens the values of the secrets named, sealed by the keyring, and names one that is not there', async () => {
        const project = tenant();
        const keyring = new Keyring([randomBytes(32)]);
        const values = { PASSWORD: 'hunter2 ☃', 'api.key': 'k'.repeat(64 * 1024) };
        for (const [name, value] of Object.entries(values)) await store.createSecret(aSecret(project, name, keyring.seal(project, name, value)));
        assert.deepEqual(await resolveSecrets(store, keyring, project, ['PASSWORD', 'api.key']), values);
        assert.deepEqual(await resolveSecrets(store, keyring, project, []), {});
        await rejectsWith(resolveSecrets(store, keyring, project, ['PASSWORD', 'missing']), 'UnknownSecret', /`missing`/);
        await rejectsWith(resolveSecrets(store, keyring, tenant(), ['PASSWORD']), 'UnknownSecret', /`PASSWORD`/);
        await rejectsWith(resolveSecrets(store, new Keyring([randomBytes(32)]), project, ['PASSWORD']), 'SecretKeyMissing', new RegExp(keyring.primaryKeyId));
      });
    });

    describe('timers and events', () => {
      test('a timer reads back, is listed newest first in its own project only, and changes only at the version it was read', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        const older = aTimer(fn, { created_at: at(1) });
        const newer = aTimer(fn, { created_at: at(2), count: 5, first_execution_time: at(50), payload: ['a', { b: 1 }] });
        for (const timer of [older, newer]) await store.createTimer(timer);
        assert.deepEqual(await store.getTimer(newer.timer_id, { tenantId: fn.tenant_id }), newer);
        assert.equal(await store.getTimer(newer.timer_id, { tenantId: tenant() }), undefined);
        assert.deepEqual((await store.listTimers({ tenantId: fn.tenant_id })).map((timer) => timer.timer_id), [newer.timer_id, older.timer_id]);
        assert.deepEqual(await store.listTimers({ tenantId: tenant() }), []);
        assert.deepEqual((await store.listTimers('all-tenants', { functionId: fn.function_id })).length, 2);
        assert.equal(await store.changeTimer(newer.timer_id, 0, { status: 'paused', payload: null, updated_at: at(3) }), true);
        assert.equal(await store.changeTimer(newer.timer_id, 0, { status: 'running', updated_at: at(4) }), false, 'a change at a version gone by changes nothing');
        assert.deepEqual(await store.getTimer(newer.timer_id, 'all-tenants'), { ...newer, status: 'paused', payload: null, updated_at: at(3), version: 1 });
        assert.equal(await store.deleteTimer(newer.timer_id), true);
        assert.equal(await store.deleteTimer(newer.timer_id), false);
        assert.equal(await store.changeTimer(newer.timer_id, 1, { status: 'running' }), false);
      });

      test('due timers are the running ones whose tick has come, soonest first; deleting a function deletes its timers', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        // Far in the future of every other test's timers, so that only these can be due here.
        const far = (seconds: number): string => new Date(Date.parse('2999-01-01T00:00:00Z') + seconds * 1000).toISOString();
        const late = aTimer(fn, { next_execution_time: far(20) });
        const soon = aTimer(fn, { next_execution_time: far(10) });
        const paused = aTimer(fn, { next_execution_time: far(5), status: 'paused' });
        const notYet = aTimer(fn, { next_execution_time: far(40) });
        for (const timer of [late, soon, paused, notYet]) await store.createTimer(timer);
        const due = (await store.dueTimers(far(30), 1000)).filter((timer) => timer.function_id === fn.function_id);
        assert.deepEqual(due.map((timer) => timer.timer_id), [soon.timer_id, late.timer_id]);
        const next = await store.nextTimerTick();
        assert.ok(next !== undefined && next <= far(10));
        assert.equal(await store.deleteFunction(fn.function_id), true);
        assert.deepEqual(await store.listTimers('all-tenants', { functionId: fn.function_id }), []);
      });

      test('of schedulers racing to claim one tick, exactly one stores the tick and its request', async () => {
        const schedulers = [await another(), await another(), await another(), await another()];
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        const timer = aTimer(fn, { count: 10 });
        await store.createTimer(timer);
        for (let tick = 0; tick < 10; tick += 1) {
          const read = await Promise.all(schedulers.map((scheduler) => scheduler.getTimer(timer.timer_id, 'all-tenants')));
          const claims = await Promise.all(
            schedulers.map((scheduler, i) => {
              const seen = read[i] as TimerRecord;
              const request = aRequest(fn, { source: 'job', timer_id: timer.timer_id, scheduled_at: at(100 + tick), payload: { scheduler: i } });
              return scheduler.changeTimer(timer.timer_id, seen.version, { executions: seen.executions + 1, next_execution_time: at(101 + tick), count: (seen.count ?? 0) - 1, last_request_ids: [request.request_id] }, [request]);
            }),
          );
          assert.equal(claims.filter(Boolean).length, 1, `tick ${tick}: exactly one claim wins, got ${JSON.stringify(claims)}`);
        }
        const requests = await store.listRequests('all-tenants', { timerId: timer.timer_id, limit: 100 });
        assert.equal(requests.length, 10, 'one request a tick, no more');
        assert.deepEqual(new Set(requests.map((request) => request.scheduled_at)).size, 10);
        assert.ok(requests.every((request) => request.source === 'job' && request.timer_id === timer.timer_id));
        const claimed = await store.getTimer(timer.timer_id, 'all-tenants');
        assert.equal(claimed?.executions, 10);
        assert.equal(claimed?.count, 0);
        assert.equal(claimed?.version, 10);
      });

      test('several requests are stored at once and fetched by their ids, by source and by timer', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        const timer = aTimer(fn);
        const bulk = Array.from({ length: 250 }, (_, i) => aRequest(fn, { created_at: at(200 + i) }));
        await store.createRequests(bulk);
        const fromEvent = aRequest(fn, { source: 'event', created_at: at(500) });
        const fromTimer = aRequest(fn, { source: 'job', timer_id: timer.timer_id, scheduled_at: at(499), created_at: at(501) });
        await store.createRequests([fromEvent, fromTimer]);
        const scope = { tenantId: fn.tenant_id };
        const picked = [bulk[3], bulk[200], fromTimer].map((request) => request?.request_id as string);
        assert.deepEqual((await store.listRequests(scope, { requestIds: picked, limit: 10 })).map((request) => request.request_id).sort(), [...picked].sort());
        assert.deepEqual(await store.listRequests(scope, { requestIds: [], limit: 10 }), []);
        assert.equal((await store.listRequests(scope, { source: 'webhook', limit: 1000 })).length, 250);
        assert.deepEqual((await store.listRequests(scope, { source: 'event', limit: 10 })).map((request) => request.request_id), [fromEvent.request_id]);
        assert.deepEqual(await store.listRequests(scope, { timerId: timer.timer_id, limit: 10 }), [fromTimer]);
        await assert.rejects(store.createRequests([aRequest(fn), bulk[0] as RequestRecord]));
        assert.equal((await store.listRequests(scope, { limit: 1000 })).length, 252, 'a batch that fails stores none of its requests');
      });

      test('functions subscribe to events of their project only; an event with subscribers is not deleted (EventInUse)', async () => {
        const project = tenant();
        const event = { tenant_id: project, name: 'orders.created', description: 'a new order', created_at: at(1) };
        await store.createEvent(event);
        await rejectsWith(store.createEvent(event), 'EventExists', /orders\.created/);
        await store.createEvent({ ...event, tenant_id: tenant() });
        assert.deepEqual(await store.getEvent(project, 'orders.created'), event);
        assert.deepEqual(await store.listEvents({ tenantId: project }), [event]);
        await rejectsWith(store.createFunction(aFunction(project, { subscriptions: ['orders.created', 'nope'] }), CODE), 'UnknownEvent', /`nope`/);
        await rejectsWith(store.createFunction(aFunction(tenant(), { subscriptions: ['orders.created'] }), CODE), 'UnknownEvent', /orders\.created/);
        const first = aFunction(project, { name: 'b-first', subscriptions: ['orders.created'] });
        const second = aFunction(project, { name: 'a-second' });
        for (const fn of [first, second]) await store.createFunction(fn, CODE);
        assert.deepEqual(await store.getFunction(first.function_id, 'all-tenants'), first);
        assert.equal(await store.updateFunction(second.function_id, { subscriptions: ['orders.created'], updated_at: at(2) }), true);
        await rejectsWith(store.updateFunction(second.function_id, { subscriptions: ['missing'], updated_at: at(3) }), 'UnknownEvent', /missing/);
        assert.deepEqual((await store.listSubscriptions(project, 'orders.created')).map((each) => each.function_name), ['a-second', 'b-first']);
        const inUse = await rejectsWith(store.deleteEvent(project, 'orders.created'), 'EventInUse', /b-first/);
        assert.equal((inUse.details?.functions as unknown[]).length, 2);
        assert.equal(await store.updateFunction(second.function_id, { subscriptions: [], updated_at: at(4) }), true);
        assert.equal(await store.deleteFunction(first.function_id), true);
        assert.deepEqual(await store.listSubscriptions(project), []);
        assert.equal(await store.deleteEvent(project, 'orders.created'), true);
        assert.equal(await store.deleteEvent(project, 'orders.created'), false);
      });
    });

    describe('versions and aliases', () => {
      const anAlias = (fn: FunctionRecord, name: string, version: number, weights: Record<string, number> = {}): AliasRecord => ({
        function_id: fn.function_id, tenant_id: fn.tenant_id, name, version, weights, description: `alias ${name}`, created_at: at(3), updated_at: at(3),
      });

      test('publishing snapshots the function and its code as the next version; unchanged, it answers the latest version; numbers are never given again', async () => {
        const fn = aFunction(tenant(), { context: { A: '1', B: '2' }, secrets: [] });
        await store.createFunction(fn, CODE);
        const first = await store.publishVersion(fn.function_id, 'one', at(1));
        assert.ok(first?.published);
        const { function_id, tenant_id, runtime, memory, cpus, timeout, retries, retry_on_error, network, context, secrets, code_sha256 } = fn;
        assert.deepEqual(first.version, { function_id, tenant_id, runtime, memory, cpus, timeout, retries, retry_on_error, network, context, secrets, code_sha256, version: 1, description: 'one', created_at: at(1) });
        assert.deepEqual(await store.getVersion(fn.function_id, 1), first.version);
        assert.deepEqual(await store.getVersionCode(fn.function_id, 1), CODE);
        // The same context in another key order is the same function.
        await store.updateFunction(fn.function_id, { context: { B: '2', A: '1' }, description: 'not a setting', updated_at: at(2) });
        assert.deepEqual(await store.publishVersion(fn.function_id, 'again', at(2)), { version: first.version, published: false });

        const newCode = { module: 'def main(payload=None):\n    return 2\n', requirements: '' };
        await store.updateFunction(fn.function_id, { code_sha256: 'b'.repeat(64), status: 'building', memory: 256, updated_at: at(3) }, newCode);
        const second = await store.publishVersion(fn.function_id, '', at(3));
        assert.equal(second?.version.version, 2);
        assert.equal(second.version.memory, 256);
        assert.deepEqual(await store.getVersionCode(fn.function_id, 2), newCode);
        assert.deepEqual(await store.getVersionCode(fn.function_id, 1), CODE, 'a version keeps its code');
        assert.equal(await store.deleteVersion(fn.function_id, 2), true);
        assert.equal(await store.deleteVersion(fn.function_id, 2), false);
        await store.updateFunction(fn.function_id, { timeout: 5, updated_at: at(4) });
        assert.equal((await store.publishVersion(fn.function_id, '', at(4)))?.version.version, 3, 'the deleted number 2 is not given again');
        assert.deepEqual((await store.listVersions(fn.function_id)).map((v) => v.version), [1, 3]);
        assert.equal(await store.publishVersion(newId(), '', at(5)), undefined, 'no such function');
      });

      test('a timer and a subscription run only a version or an alias the function has, which is not deleted while one runs it (VersionInUse, AliasInUse)', async () => {
        const project = tenant();
        await store.createEvent({ tenant_id: project, name: 'orders', description: '', created_at: at(1) });
        await store.createEvent({ tenant_id: project, name: 'refunds', description: '', created_at: at(1) });
        await rejectsWith(store.createFunction(aFunction(project, { subscriptions: ['orders:1'] }), CODE), 'VersionNotFound', /no version 1/);
        const fn = aFunction(project);
        await store.createFunction(fn, CODE);
        await store.publishVersion(fn.function_id, '', at(1));
        await store.updateFunction(fn.function_id, { memory: 512, updated_at: at(2) });
        await store.publishVersion(fn.function_id, '', at(2));
        await store.createAlias(anAlias(fn, 'prod', 1));

        await rejectsWith(store.createTimer(aTimer(fn, { qualifier: '3' })), 'VersionNotFound', /no version 3/);
        await rejectsWith(store.createTimer(aTimer(fn, { qualifier: 'beta' })), 'AliasNotFound', /`beta`/);
        await rejectsWith(store.createTimer(aTimer(aFunction(project), { qualifier: 'prod' })), 'FunctionNotFound', /./);
        await rejectsWith(store.updateFunction(fn.function_id, { subscriptions: ['orders:beta'], updated_at: at(3) }), 'AliasNotFound', /`beta`/);
        assert.deepEqual(await store.listTimers({ tenantId: project }), [], 'nothing stored');
        assert.deepEqual(await store.listSubscriptions(project), []);

        const onProd = aTimer(fn, { qualifier: 'prod' });
        const onTwo = aTimer(fn, { qualifier: '2' });
        for (const timer of [onProd, onTwo]) await store.createTimer(timer);
        assert.deepEqual(await store.getTimer(onProd.timer_id, 'all-tenants'), onProd);
        assert.equal(await store.updateFunction(fn.function_id, { subscriptions: ['orders:prod', 'refunds:2'], updated_at: at(4) }), true);
        assert.deepEqual(
          (await store.listSubscriptions(project)).map(({ event, qualifier }) => [event, qualifier]),
          [['orders', 'prod'], ['refunds', '2']],
        );
        assert.deepEqual((await store.getFunction(fn.function_id, 'all-tenants'))?.subscriptions, ['orders:prod', 'refunds:2']);

        const aliasInUse = await rejectsWith(store.deleteAlias(fn.function_id, 'prod'), 'AliasInUse', new RegExp(`${onProd.timer_id}.*orders`));
        assert.deepEqual(aliasInUse.details, { jobs: [onProd.timer_id], subscriptions: ['orders'] });
        const versionInUse = await rejectsWith(store.deleteVersion(fn.function_id, 2), 'VersionInUse', /refunds/);
        assert.deepEqual(versionInUse.details, { aliases: [], jobs: [onTwo.timer_id], subscriptions: ['refunds'] });
        assert.deepEqual((await store.listVersions(fn.function_id)).map((v) => v.version), [1, 2], 'nothing deleted');

        // Once nothing runs them, they go.
        assert.equal(await store.deleteTimer(onProd.timer_id), true);
        assert.equal(await store.deleteTimer(onTwo.timer_id), true);
        assert.equal(await store.updateFunction(fn.function_id, { subscriptions: ['orders'], updated_at: at(5) }), true);
        assert.deepEqual((await store.listSubscriptions(project)).map(({ event, qualifier }) => [event, qualifier]), [['orders', null]]);
        assert.equal(await store.deleteAlias(fn.function_id, 'prod'), true);
        assert.equal(await store.deleteVersion(fn.function_id, 2), true);
        assert.equal(await store.deleteAlias(fn.function_id, 'prod'), false, 'gone');
        assert.equal(await store.deleteFunction(fn.function_id), true);
      });

      test('publishes racing from several stores never give one number twice', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        const stores = [store, await another(), await another()];
        const answers = [];
        for (let round = 0; round < 4; round++) {
          await store.updateFunction(fn.function_id, { memory: 128 + round, updated_at: at(round) });
          answers.push(...(await Promise.all(Array.from({ length: 6 }, (_, i) => (stores[i % stores.length] as Store).publishVersion(fn.function_id, `r${round}`, at(round))))));
        }
        const made = answers.filter((answer) => answer?.published).map((answer) => answer?.version.version);
        assert.equal(new Set(made).size, made.length, `numbers given twice: ${made.join(', ')}`);
        const stored = (await store.listVersions(fn.function_id)).map((v) => v.version);
        assert.deepEqual(stored, [...made].sort((a, b) => (a ?? 0) - (b ?? 0)));
        for (const answer of answers) assert.ok(answer && stored.includes(answer.version.version));
        assert.ok(stored.length >= 4);
      });

      test('an alias is unique per function, targets only versions the function has, and keeps the versions it targets from deletion', async () => {
        const project = tenant();
        const fn = aFunction(project);
        const other = aFunction(project);
        for (const each of [fn, other]) await store.createFunction(each, CODE);
        await store.publishVersion(fn.function_id, '', at(1));
        await store.updateFunction(fn.function_id, { memory: 512, updated_at: at(2) });
        await store.publishVersion(fn.function_id, '', at(2));
        await store.publishVersion(other.function_id, '', at(2));

        const prod = anAlias(fn, 'prod', 1, { '2': 0.25 });
        await store.createAlias(prod);
        assert.deepEqual(await store.getAlias(fn.function_id, 'prod'), prod);
        await rejectsWith(store.createAlias(anAlias(fn, 'prod', 2)), 'AliasExists', /prod/);
        await store.createAlias(anAlias(other, 'prod', 1));
        await rejectsWith(store.createAlias(anAlias(fn, 'beta', 3)), 'VersionNotFound', /version 3/);
        await rejectsWith(store.createAlias(anAlias(fn, 'beta', 1, { '7': 0.1 })), 'VersionNotFound', /version 7/);
        assert.deepEqual((await store.listAliases(fn.function_id)).map((alias) => alias.name), ['prod'], 'nothing stored');

        const inUse = await rejectsWith(store.deleteVersion(fn.function_id, 2), 'VersionInUse', /`prod`/);
        assert.deepEqual(inUse.details, { aliases: ['prod'], jobs: [], subscriptions: [] });
        await rejectsWith(store.deleteVersion(fn.function_id, 1), 'VersionInUse', /`prod`/);
        await rejectsWith(store.updateAlias(fn.function_id, 'prod', { version: 9, updated_at: at(4) }), 'VersionNotFound', /version 9/);
        assert.equal(await store.updateAlias(fn.function_id, 'prod', { version: 2, weights: {}, updated_at: at(5) }), true);
        assert.deepEqual(await store.getAlias(fn.function_id, 'prod'), { ...prod, version: 2, weights: {}, updated_at: at(5) });
        assert.equal(await store.updateAlias(fn.function_id, 'nope', { version: 2, updated_at: at(5) }), false);
        assert.equal(await store.deleteVersion(fn.function_id, 1), true, 'no alias targets it any more');

        assert.equal(await store.deleteAlias(fn.function_id, 'prod'), true);
        assert.equal(await store.deleteAlias(fn.function_id, 'prod'), false);
        await store.createAlias(anAlias(fn, 'again', 2));
        assert.equal(await store.deleteFunction(fn.function_id), true);
        assert.deepEqual(await store.listVersions(fn.function_id), []);
        assert.deepEqual(await store.listAliases(fn.function_id), []);
        assert.equal((await store.listAliases(other.function_id)).length, 1, "another function's alias stays");
      });

      test('a request records the version it runs and the alias it came through; listing filters by both', async () => {
        const project = tenant();
        const fn = aFunction(project);
        await store.createFunction(fn, CODE);
        const latest = aRequest(fn, { created_at: at(1) });
        const viaAlias = aRequest(fn, { version: 2, alias: 'prod', created_at: at(2) });
        const direct = aRequest(fn, { version: 2, created_at: at(3) });
        for (const request of [latest, viaAlias, direct]) await store.createRequest(request);
        assert.deepEqual(await store.getRequest(viaAlias.request_id, 'all-tenants'), viaAlias);
        const ids = async (filter: Partial<RequestFilter>): Promise<string[]> =>
          (await store.listRequests({ tenantId: project }, { limit: 10, ...filter })).map((request) => request.request_id);
        assert.deepEqual(await ids({ version: 2 }), [direct.request_id, viaAlias.request_id]);
        assert.deepEqual(await ids({ version: 'latest' }), [latest.request_id]);
        assert.deepEqual(await ids({ alias: 'prod' }), [viaAlias.request_id]);
        assert.deepEqual(await ids({ alias: 'prod', version: 1 }), []);
      });
    });

    describe('runtimes and runners', () => {
      test('the python3 runtime is there from the first migration', async () => {
        const runtimes = await store.listRuntimes();
        assert.deepEqual(runtimes.map((runtime) => runtime.name), ['python3']);
        assert.equal((await store.getRuntime('python3'))?.image, 'pratai/runtime-python3:latest');
        assert.equal(await store.getRuntime('cobol'), undefined);
      });

      test('a runtime is added once, and removed only while no function uses it', async () => {
        const runtime = { name: `rt-${newId().slice(-8)}`, image: 'example/runtime:1', description: 'test' };
        await store.createRuntime(runtime);
        assert.deepEqual(await store.getRuntime(runtime.name), runtime);
        await assert.rejects(store.createRuntime(runtime), (error: unknown) => error instanceof PrataiError && error.code === 'RuntimeExists');
        const fn = { ...aFunction(tenant()), runtime: runtime.name };
        await store.createFunction(fn, CODE);
        await assert.rejects(store.deleteRuntime(runtime.name), (error: unknown) => error instanceof PrataiError && error.code === 'RuntimeInUse');
        await store.deleteFunction(fn.function_id);
        assert.equal(await store.deleteRuntime(runtime.name), true);
        assert.equal(await store.deleteRuntime(runtime.name), false);
        assert.equal(await store.getRuntime(runtime.name), undefined);
      });

      const beat = (name: string, instanceId: string, seconds: number, extra: Partial<RunnerHeartbeat> = {}): RunnerHeartbeat => ({
        name,
        host: 'vm',
        pid: 4242,
        instanceId,
        startedAt: at(0),
        dockerOk: true,
        images: [],
        at: at(seconds),
        load: { concurrency: 4, running: 1, warm: 2, busy: 1, prewarmed: 2, state: 'active' },
        drainRequested: false,
        ...extra,
      });

      test('a runner’s heartbeat is kept once and updated in place by the process holding it', async () => {
        const name = `runner-${newId().slice(-8)}`;
        assert.equal(await store.recordHeartbeat(beat(name, 'first', 1), at(-100)), undefined);
        assert.equal(await store.recordHeartbeat(beat(name, 'first', 50, { images: ['pratai/runtime-python3:latest'] }), at(-100)), undefined);
        const mine = (await store.listHeartbeats()).filter((row) => row.name === name);
        assert.deepEqual(mine, [beat(name, 'first', 50, { images: ['pratai/runtime-python3:latest'] })]);
      });

      test('a runner’s name is refused to another process while its holder’s heartbeat is fresh, and taken over once it is stale', async () => {
        const name = `runner-${newId().slice(-8)}`;
        await store.recordHeartbeat(beat(name, 'holder', 10), at(0));
        const refused = await store.recordHeartbeat(beat(name, 'newcomer', 12, { pid: 99 }), at(5));
        assert.deepEqual(refused, beat(name, 'holder', 10), 'the live holder is named, and nothing is recorded');
        assert.equal(await store.recordHeartbeat(beat(name, 'newcomer', 30, { pid: 99 }), at(11)), undefined, 'a holder silent since before staleBefore is taken over');
        assert.deepEqual((await store.listHeartbeats()).filter((row) => row.name === name), [beat(name, 'newcomer', 30, { pid: 99 })]);
        assert.equal(await store.deleteHeartbeat(name, 'holder'), false, 'the old holder cannot remove it');
        assert.equal(await store.deleteHeartbeat(name, 'newcomer'), true);
        assert.deepEqual((await store.listHeartbeats()).filter((row) => row.name === name), []);
      });

      test('a drain request is kept through the runner’s heartbeats until a new process takes the name', async () => {
        const name = `runner-${newId().slice(-8)}`;
        assert.equal(await store.requestDrain(name), false, 'no such runner');
        await store.recordHeartbeat(beat(name, 'first', 1), at(-100));
        assert.equal(await store.requestDrain(name), true);
        assert.equal(await store.requestDrain(name), true, 'asked twice, still found');
        const { drainRequested: _omitted, ...heartbeat } = beat(name, 'first', 2, { load: { concurrency: 4, running: 0, warm: 0, busy: 0, prewarmed: 0, state: 'draining' } });
        assert.equal(await store.recordHeartbeat(heartbeat, at(-100)), undefined);
        assert.deepEqual((await store.listHeartbeats()).filter((row) => row.name === name), [{ ...heartbeat, drainRequested: true }]);
        assert.equal(await store.recordHeartbeat(beat(name, 'second', 200), at(100)), undefined);
        assert.equal((await store.listHeartbeats()).find((row) => row.name === name)?.drainRequested, false);
      });

      test('the heartbeats of runners silent since before a time are pruned, and only those', async () => {
        const [longGone, alsoGone, recent] = ['gone-1', 'gone-2', 'recent'].map((what) => `runner-${what}-${newId().slice(-8)}`) as [string, string, string];
        await store.recordHeartbeat(beat(longGone, 'a', -200_000), at(-300_000));
        await store.recordHeartbeat(beat(alsoGone, 'b', -100_000), at(-300_000));
        await store.recordHeartbeat(beat(recent, 'c', -40_000), at(-300_000));
        assert.equal(await store.pruneHeartbeats(at(-50_000)), 2);
        const names = (await store.listHeartbeats()).map((row) => row.name);
        assert.deepEqual([names.includes(longGone), names.includes(alsoGone), names.includes(recent)], [false, false, true]);
        assert.equal(await store.pruneHeartbeats(at(-50_000)), 0, 'nothing left to prune');
        assert.equal(await store.recordHeartbeat(beat(longGone, 'd', 300), at(0)), undefined, 'a pruned name is free to take');
      });

      test('of processes racing for a free runner name, one gets it and the others are told who', async () => {
        const name = `runner-${newId().slice(-8)}`;
        const racers = [store, await another(), await another()];
        const answers = await Promise.all(racers.map((racer, i) => racer.recordHeartbeat(beat(name, `racer-${i}`, 20), at(0))));
        const winners = answers.filter((answer) => answer === undefined);
        assert.equal(winners.length, 1, JSON.stringify(answers));
        const [held] = (await store.listHeartbeats()).filter((row) => row.name === name);
        for (const answer of answers) if (answer !== undefined) assert.deepEqual(answer, held);
      });
    });

    describe('operations', () => {
      test('migrating an up-to-date database again changes nothing', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        const again = await another();
        await again.migrate();
        assert.deepEqual(await again.getFunction(fn.function_id, 'all-tenants'), fn);
        assert.deepEqual((await again.listRuntimes()).map((runtime) => runtime.name), ['python3']);
      });

      test('connections the server closes do not stop the store: the next call reconnects', async () => {
        const fn = aFunction(tenant());
        await store.createFunction(fn, CODE);
        await database.killConnections();
        // A pool may hand out connections it has not yet seen die (as many as it holds, 4 here):
        // each such call fails as ServiceUnavailable (retryable), and then the store works again.
        let answer: unknown;
        for (let call = 0; call <= POOL_SIZE; call += 1) {
          answer = await store.getFunction(fn.function_id, 'all-tenants').catch((error: unknown) => error);
          if (answer && typeof answer === 'object' && 'function_id' in answer) break;
          assert.ok(answer instanceof PrataiError && answer.code === 'ServiceUnavailable', `expected ServiceUnavailable, got ${String(answer)}`);
        }
        assert.deepEqual(answer, fn, `the store works again within ${POOL_SIZE + 1} calls`);
        await store.ping();
      });

      test('a database that cannot be reached is ServiceUnavailable naming where it is, never the password', { skip: options.unreachable ? false : 'no unreachable form for this database' }, async () => {
        const { url, where, password } = options.unreachable!;
        const unreachable = await connect(url, { migrate: false });
        try {
          for (const call of [() => unreachable.ping(), () => unreachable.migrate(), () => unreachable.listFunctions('all-tenants')]) {
            const error = await rejectsWith(call(), 'ServiceUnavailable');
            assert.ok(error.message.includes(where), `${error.message} names ${where}`);
            assert.ok(!error.message.includes(password), `${error.message} shows the password`);
            assert.equal(error.retryable, true);
          }
        } finally {
          await unreachable.close();
        }
      });
    });
  });
}
