/**
 * Real ZooKeeper as the reference for Pratai's coordination: the scripted scenarios of
 * test/coordination-scenarios.ts run on a standalone ZooKeeper through kazoo
 * (test/helpers/zookeeper-driver.py), then on Pratai's REST API of a real platform, on SQLite and
 * on PostgreSQL, and each step's outcome must be the one ZooKeeper gave: the error, the stat, the
 * sequential name, a multi's per-op results, and the watch events each session was sent.
 *
 * What legitimately differs is normalised away on both sides alike:
 * - zxids: ZooKeeper also spends them on sessions and failed writes, Pratai only on writes that
 *   commit; every czxid, mzxid and pzxid becomes its rank among those the scenario saw, so their
 *   order (which write came first, which node changed last) is compared, not their values;
 * - ctime and mtime are wall-clock times, left out; session ids become the scenario's names;
 * - children come in no order from ZooKeeper: both lists are sorted;
 * - closing a session deletes its ephemeral nodes in an order ZooKeeper leaves undefined (a hash
 *   set's): the events of a close are sorted.
 * Where Pratai answers otherwise on purpose (ARCHITECTURE.md, "Where Pratai's coordination differs
 * from ZooKeeper"), the step says what each answers (`known`) and both answers are asserted.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { SCENARIOS, sessionsOf, type Scenario, type Step } from './coordination-scenarios.js';
import { createTestDatabase, type TestDatabase, type TestDatabaseKind } from './helpers/databases.js';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';
import { PYTHON, startZooKeeper } from './helpers/zookeeper.js';

const execFileAsync = promisify(execFile);

type Result = Record<string, unknown>;
type Event = [type: string, path: string, watch: string];
/** One step's outcome, as both sides give it. */
interface Outcome {
  result: Result;
  /** The watch events each session was sent at this step, in order. */
  events?: Record<string, Event[]>;
}

const STAT_FIELDS = ['czxid', 'mzxid', 'pzxid', 'version', 'cversion', 'num_children', 'data_length', 'ephemeral_owner'] as const;
const ZXIDS = ['czxid', 'mzxid', 'pzxid'] as const;

async function runOnZooKeeper(port: number, scenarios: readonly Scenario[]): Promise<Outcome[][]> {
  const script = { port, scenarios: scenarios.map((scenario) => ({ name: scenario.name, sessions: sessionsOf(scenario), steps: scenario.steps.map((step) => ({ ...step, s: step.s ?? 'a' })) })) };
  const driver = execFileAsync(PYTHON, [join(import.meta.dirname, 'helpers', 'zookeeper-driver.py')], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  driver.child.stdin?.end(JSON.stringify(script));
  return JSON.parse((await driver).stdout) as Outcome[][];
}

/** Runs scenarios on Pratai's REST API: one session per name, each call made with its session. */
class PrataiDriver {
  private readonly agent = new Agent({ keepAlive: true });

  constructor(private readonly apiUrl: string) {}

  close(): void {
    this.agent.destroy();
  }

  /** One HTTP call, the path sent as given (fetch would resolve `.` and `..` in it). */
  private call(method: string, path: string, body?: unknown, session?: string): Promise<{ status: number; body: Record<string, any> }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- the API's JSON
    const url = new URL(this.apiUrl);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          agent: this.agent,
          host: url.hostname,
          port: url.port,
          method,
          path: `/v1/coordination${path}`,
          headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...(session === undefined ? {} : { 'x-pratai-session': session }) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? {} : (JSON.parse(text) as Record<string, unknown>) }));
        },
      );
      req.once('error', reject);
      req.end(payload);
    });
  }

  async run(scenario: Scenario): Promise<Outcome[]> {
    const ids = new Map<string, string>();
    const names = new Map<string, string>();
    for (const name of sessionsOf(scenario)) {
      const opened = await this.call('POST', '/sessions', { timeout_ms: 60_000 });
      assert.equal(opened.status, 201, JSON.stringify(opened.body));
      ids.set(name, opened.body.session.session_id as string);
      names.set(opened.body.session.session_id as string, name);
    }
    const open = new Set(ids.keys());
    const statOf = (stat: Record<string, unknown>): Result => {
      const picked: Result = Object.fromEntries(STAT_FIELDS.map((field) => [field, stat[field]]));
      if (typeof picked.ephemeral_owner === 'string') picked.ephemeral_owner = names.get(picked.ephemeral_owner) ?? picked.ephemeral_owner;
      return picked;
    };
    const outcomes: Outcome[] = [];
    // Events heard since the last settled step, per session, in order.
    let events: Record<string, Event[]> = {};
    const heard = (session: string, list: { type: string; path: string; watch: string }[] | undefined): void => {
      if (list !== undefined && list.length > 0) (events[session] ??= []).push(...list.map((event): Event => [event.type, event.path, event.watch]));
    };
    for (const step of scenario.steps) {
      const name = step.s ?? 'a';
      const answer = await this.step(step, ids.get(name) as string);
      heard(name, answer.body.events);
      if (step.do === 'close') {
        open.delete(name);
        delete events[name];
      }
      const outcome: Outcome = { result: this.resultOf(step, answer, statOf) };
      outcomes.push(outcome);
      if (step.settle === false) continue;
      for (const session of open) heard(session, (await this.call('GET', `/sessions/${ids.get(session)}/events`)).body.events);
      if (Object.keys(events).length > 0) outcome.events = events;
      events = {};
    }
    for (const session of open) await this.call('DELETE', `/sessions/${ids.get(session)}`);
    return outcomes;
  }

  private step(step: Step, session: string): Promise<{ status: number; body: Record<string, any> }> { // eslint-disable-line @typescript-eslint/no-explicit-any -- the API's JSON
    const node = (path: string, query = ''): string => {
      if (!path.startsWith('/')) throw new Error(`${path} cannot be a URL's path: send it in a multi`);
      return `/nodes${path.split('/').map(encodeURIComponent).join('/')}${query}`;
    };
    const data = (text: string | undefined): string => Buffer.from(text ?? '').toString('base64');
    const watch = 'watch' in step && step.watch === true ? 'watch=true' : '';
    switch (step.do) {
      case 'create':
        return this.call('POST', node(step.path), { data: data(step.data), ephemeral: step.ephemeral ?? false, sequential: step.sequential ?? false }, session);
      case 'get':
        return this.call('GET', node(step.path, watch === '' ? '' : `?${watch}`), undefined, session);
      case 'exists':
        return this.call('GET', node(step.path, `?stat=true&${watch}`), undefined, session);
      case 'children':
        return this.call('GET', node(step.path, `?children=true&${watch}`), undefined, session);
      case 'set':
        return this.call('PUT', node(step.path), { data: data(step.data), version: step.version ?? -1 }, session);
      case 'delete':
        return this.call('DELETE', node(step.path, `?version=${step.version ?? -1}`), undefined, session);
      case 'multi':
        return this.call('POST', '/multi', { ops: step.ops.map((op) => ('data' in op ? { ...op, data: data(op.data) } : op)) }, session);
      case 'close':
        return this.call('DELETE', `/sessions/${session}`);
    }
  }

  /** The answer in the driver's shape: ZooKeeper's fields only. */
  private resultOf(step: Step, answer: { status: number; body: Record<string, any> }, statOf: (stat: Record<string, unknown>) => Result): Result { // eslint-disable-line @typescript-eslint/no-explicit-any -- the API's JSON
    const { body } = answer;
    if (answer.status >= 400) {
      const code = body.error?.code as string;
      if (step.do !== 'multi') return { error: code };
      // ZooKeeper's per-op results: the ops before the failed one rolled back, those after not tried.
      const index = body.error?.details?.index as number | undefined;
      if (index === undefined) return { error: code, index: 'none' };
      return { results: step.ops.map((_, i) => ({ error: i < index ? 'RolledBack' : i === index ? code : 'RuntimeInconsistency' })) };
    }
    switch (step.do) {
      case 'create':
        return { path: body.path, stat: statOf(body.stat) };
      case 'get':
        return { data: Buffer.from(body.data as string, 'base64').toString(), stat: statOf(body.stat) };
      case 'exists':
        return { stat: body.stat === null ? null : statOf(body.stat) };
      case 'children':
        return { children: body.children, stat: statOf(body.stat) };
      case 'set':
        return { stat: statOf(body.stat) };
      case 'multi':
        return { results: (body.results as { op: string; path: string; stat: Record<string, unknown> }[]).map((r) => (r.op === 'create' ? { path: r.path } : r.op === 'set' ? { stat: statOf(r.stat) } : {})) };
      case 'delete':
      case 'close':
        return {};
    }
  }
}

/** Both sides' outcomes made comparable (see the top of the file). */
function normalise(scenario: Scenario, outcomes: readonly Outcome[]): Outcome[] {
  const stats: Result[] = [];
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (typeof value === 'object' && value !== null) {
      if ('czxid' in value) stats.push(value);
      else Object.values(value).forEach(collect);
    }
  };
  const copy = structuredClone(outcomes) as Outcome[];
  copy.forEach((outcome) => collect(outcome.result));
  const seen = [...new Set(stats.flatMap((stat) => ZXIDS.map((field) => stat[field] as number)))].toSorted((a, b) => a - b);
  for (const stat of stats) for (const field of ZXIDS) stat[field] = seen.indexOf(stat[field] as number);
  copy.forEach((outcome, index) => {
    if (Array.isArray(outcome.result.children)) (outcome.result.children as string[]).sort();
    if (scenario.steps[index]?.do === 'close' && outcome.events) for (const list of Object.values(outcome.events)) list.sort((a, b) => (a.join(' ') < b.join(' ') ? -1 : 1));
  });
  return copy;
}

function assertLikeZooKeeper(scenario: Scenario, zookeeper: readonly Outcome[], pratai: readonly Outcome[]): void {
  assert.equal(pratai.length, scenario.steps.length);
  assert.equal(zookeeper.length, scenario.steps.length);
  const [z, p] = [structuredClone(zookeeper) as Outcome[], structuredClone(pratai) as Outcome[]];
  scenario.steps.forEach((step, index) => {
    const [theirs, ours] = [z[index] as Outcome, p[index] as Outcome];
    if (step.known === undefined) return;
    const label = `step ${index} ${JSON.stringify(step)}`;
    assert.deepEqual(theirs.result, step.known.zookeeper, `${label}: ZooKeeper no longer answers as ARCHITECTURE.md says`);
    assert.deepEqual(ours.result, step.known.pratai, `${label}: Pratai does not answer as ARCHITECTURE.md says`);
    theirs.result = ours.result = { known: true };
  });
  const [expected, actual] = [normalise(scenario, z), normalise(scenario, p)];
  scenario.steps.forEach((step, index) => {
    assert.deepEqual(actual[index], expected[index], `step ${index} ${JSON.stringify(step)}: Pratai (actual) answered otherwise than ZooKeeper (expected)`);
  });
}

describe('coordination with a real ZooKeeper as the reference', () => {
  let reference: Outcome[][] = [];

  before(async () => {
    const zookeeper = await startZooKeeper();
    try {
      reference = await runOnZooKeeper(zookeeper.port, SCENARIOS);
    } finally {
      await zookeeper.stop();
    }
  });

  for (const kind of ['sqlite', 'postgres'] satisfies TestDatabaseKind[]) {
    describe(`Pratai's REST API on ${kind} answers as ZooKeeper does`, () => {
      let database: TestDatabase | undefined;
      let platform: TestPlatform;
      let driver: PrataiDriver;

      before(async () => {
        if (kind !== 'sqlite') database = await createTestDatabase(kind);
        platform = await startTestPlatform(database === undefined ? {} : { database: { connection: database.url } });
        driver = new PrataiDriver(platform.apiUrl);
      });
      after(async () => {
        driver?.close();
        await platform?.close();
        await database?.drop();
      });

      SCENARIOS.forEach((scenario, index) => {
        test(scenario.name, async () => {
          assertLikeZooKeeper(scenario, reference[index] ?? [], await driver.run(scenario));
        });
      });
    });
  }
});
