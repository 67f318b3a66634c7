/**
 * Workflow figures: the edge latency (a predecessor's outcome stored → its successor's request
 * running, from the two requests' times in the store) along a chain of actions in warm
 * containers, and the wall time of an invocation whose middle action has rank 100, beside the
 * same with one instance.
 */
import type { Platform } from '../server/platform.js';
import { call } from '../test/helpers/platform.js';
import { deployWorkflow, invokeWorkflow, waitForInvocation } from '../test/helpers/workflows.js';
import type { BenchPlatform } from './platform-process.js';
import type { Figure } from './report.js';
import { percentile } from './stats.js';

const CHAIN = 25;
const CHAIN_RUNS = 4;
const RANK = 100;
const CODE = { 'steps.py': 'def step():\n    return None\n' };
const LOCAL = { Endpoint: 'local', Bucket: 'bench' };

const action = (next: string[]): Record<string, unknown> => ({ FunctionName: 'step', FaaSServer: 'x', Type: 'Python', Arguments: {}, InvokeNext: next });

function document(name: string, actions: Record<string, unknown>): Record<string, unknown> {
  return { WorkflowName: name, FunctionInvoke: 'a1', DefaultDataStore: 'S3', ComputeServers: {}, DataStores: { S3: LOCAL }, ActionList: actions };
}

const chain = (): Record<string, unknown> =>
  document('bench-chain', Object.fromEntries(Array.from({ length: CHAIN }, (_, i) => [`a${i + 1}`, action(i + 1 < CHAIN ? [`a${i + 2}`] : [])])));

const fanOut = (name: string, rank: number): Record<string, unknown> => document(name, { a1: action([`wide(${rank})`]), wide: action(['end']), end: action([]) });

interface Instance {
  action: string;
  request_id: string;
}

async function requestTimes(platform: Platform, requestId: string): Promise<{ started: number; finished: number }> {
  const { body } = (await call(`${platform.apiUrl}/v1/requests/${requestId}`)) as { body: { request: { started_at: string; finished_at: string } } };
  return { started: Date.parse(body.request.started_at), finished: Date.parse(body.request.finished_at) };
}

const deploy = async (platform: Platform, doc: Record<string, unknown>): Promise<string> => ((await deployWorkflow(platform, doc, CODE)) as { workflow_id: string }).workflow_id;

async function run(platform: Platform, workflowId: string): Promise<{ instances: Instance[]; wallMs: number }> {
  const started = (await invokeWorkflow(platform, workflowId)) as { status: number; body: { invocation: { invocation_id: string } } };
  if (started.status !== 202) throw new Error(`invocation refused: ${JSON.stringify(started.body)}`);
  const invocation = (await waitForInvocation(platform, workflowId, started.body.invocation.invocation_id, 300_000)) as { status: string; actions: Instance[]; created_at: string; finished_at: string };
  if (invocation.status !== 'succeeded') throw new Error(`bench invocation ended ${invocation.status}`);
  return { instances: invocation.actions, wallMs: Date.parse(invocation.finished_at) - Date.parse(invocation.created_at) };
}

export async function measureWorkflows(bench: BenchPlatform, figures: Figure[], say: (line: string) => void): Promise<void> {
  const platform = bench as unknown as Platform;
  const created: string[] = [];
  try {
    const chained = await deploy(platform, chain());
    created.push(chained);
    say(`workflow edges: a chain of ${CHAIN} actions, ${CHAIN_RUNS} invocations (the first warms the containers)`);
    const edges: number[] = [];
    for (let i = 0; i < CHAIN_RUNS; i += 1) {
      const { instances } = await run(platform, chained);
      if (i === 0) continue;
      const times = new Map<string, { started: number; finished: number }>();
      for (const instance of instances) times.set(instance.action, await requestTimes(platform, instance.request_id));
      for (let n = 1; n < CHAIN; n += 1) {
        const before = times.get(`a${n}`);
        const next = times.get(`a${n + 1}`);
        if (before && next) edges.push(next.started - before.finished);
      }
    }
    figures.push(
      { name: 'workflow edge, outcome stored → successor running, p50', value: percentile(edges, 50), unit: 'ms', target: { of: 'value', op: '<=', limit: 5 }, note: `${edges.length} edges of a chain, warm containers; store times have 1 ms resolution` },
      { name: 'workflow edge, outcome stored → successor running, p99', value: percentile(edges, 99), unit: 'ms' },
    );

    const one = await deploy(platform, fanOut('bench-rank-1', 1));
    created.push(one);
    const wide = await deploy(platform, fanOut('bench-rank-100', RANK));
    created.push(wide);
    say(`a rank of ${RANK} beside a rank of 1 (each run twice, the second measured)`);
    await run(platform, one);
    const single = (await run(platform, one)).wallMs;
    await run(platform, wide);
    const hundred = (await run(platform, wide)).wallMs;
    figures.push({ name: `workflow wall time, a1 → rank ${RANK} → join`, value: hundred, unit: 'ms', baseline: { name: 'the same with rank 1', value: single }, note: 'one run of each, after a run that warms the containers' });
  } finally {
    for (const id of created) await call(`${platform.apiUrl}/v1/workflows/${id}`, { method: 'DELETE' });
  }
}
