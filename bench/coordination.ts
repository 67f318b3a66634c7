/**
 * Coordination figures: `set` and `get` latency one call after another, and sequential creates
 * per second, on Pratai's coordination tree through the REST API (one kept-alive connection) and
 * from inside a function (the runtime's client, timed with time.perf_counter), beside a standalone
 * ZooKeeper on loopback measured through kazoo in the same run. ZooKeeper and kazoo are Debian
 * packages, installed when missing; when they cannot be had, the figures say why.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { installZooKeeper, PYTHON, startZooKeeper, type ZooKeeper } from '../test/helpers/zookeeper.js';
import { Poster } from './http-load.js';
import { deploy, undeploy } from './measurements.js';
import type { BenchPlatform } from './platform-process.js';
import type { Figure } from './report.js';
import { percentile, perSecond } from './stats.js';

const execFileAsync = promisify(execFile);

/** Sets, then gets, one after another; after `WARMUP` of each not counted. */
const CALLS = 500;
const WARMUP = 50;
/** Sequential nodes created one after another for the rate. */
const CREATES = 500;
const DATA = 'x'.repeat(64);

interface Samples {
  setMs: number[];
  getMs: number[];
  createsPerSecond: number;
}

/** The kazoo side: prints {set, get, creates_per_s} as JSON. argv: port, calls, warmup, creates, data. */
const KAZOO = `
import json, sys, time
from kazoo.client import KazooClient
port, calls, warmup, creates, data = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5].encode()
zk = KazooClient(hosts="127.0.0.1:%d" % port, timeout=10)
zk.start(timeout=30)
zk.ensure_path("/bench/seq")
zk.create("/bench/node", b"")
def timed(f):
    out = []
    for i in range(warmup + calls):
        t = time.perf_counter()
        f()
        if i >= warmup:
            out.append((time.perf_counter() - t) * 1000)
    return out
sets = timed(lambda: zk.set("/bench/node", data))
gets = timed(lambda: zk.get("/bench/node"))
t = time.perf_counter()
for _ in range(creates):
    zk.create("/bench/seq/n-", data, sequence=True)
rate = creates / (time.perf_counter() - t)
zk.stop()
print(json.dumps({"set": sets, "get": gets, "creates_per_s": rate}))
`;

/** The function side: the same loops with the runtime's client; returns the samples. */
const FUNCTION = `import time
from pratai_runtime.coordination import Client, NodeExistsError

def main(payload):
    zk = Client()
    calls, warmup, creates, data = payload["calls"], payload["warmup"], payload["creates"], payload["data"].encode()
    zk.ensure_path("/bench-fn/seq")
    try:
        zk.create("/bench-fn/node", b"")
    except NodeExistsError:
        pass

    def timed(f):
        out = []
        for i in range(warmup + calls):
            t = time.perf_counter()
            f()
            if i >= warmup:
                out.append((time.perf_counter() - t) * 1000)
        return out

    sets = timed(lambda: zk.set("/bench-fn/node", data))
    gets = timed(lambda: zk.get("/bench-fn/node"))
    t = time.perf_counter()
    for _ in range(creates):
        zk.create("/bench-fn/seq/n-", data, sequence=True)
    rate = creates / (time.perf_counter() - t)
    zk.delete("/bench-fn", recursive=True)
    return {"set": sets, "get": gets, "creates_per_s": rate}
`;

async function measureZooKeeper(port: number): Promise<Samples> {
  const { stdout } = await execFileAsync(PYTHON, ['-c', KAZOO, String(port), String(CALLS), String(WARMUP), String(CREATES), DATA], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 });
  const out = JSON.parse(stdout) as { set: number[]; get: number[]; creates_per_s: number };
  return { setMs: out.set, getMs: out.get, createsPerSecond: out.creates_per_s };
}

async function measureRest(platform: BenchPlatform): Promise<Samples> {
  const client = new Poster(platform.apiUrl, 1);
  const expect = async (method: string, path: string, body: string, status: number): Promise<void> => {
    const answer = await client.send(method, path, body);
    if (answer.status !== status) throw new Error(`${method} ${path} answered ${answer.status}: ${answer.body}`);
  };
  const data = JSON.stringify({ data: Buffer.from(DATA).toString('base64') });
  const timed = async (call: () => Promise<void>): Promise<number[]> => {
    const samples: number[] = [];
    for (let i = 0; i < WARMUP + CALLS; i += 1) {
      const sent = performance.now();
      await call();
      if (i >= WARMUP) samples.push(performance.now() - sent);
    }
    return samples;
  };
  try {
    await expect('POST', '/v1/coordination/nodes/bench-rest', '{}', 201);
    await expect('POST', '/v1/coordination/nodes/bench-rest/seq', '{}', 201);
    await expect('POST', '/v1/coordination/nodes/bench-rest/node', '{}', 201);
    const setMs = await timed(() => expect('PUT', '/v1/coordination/nodes/bench-rest/node', data, 200));
    const getMs = await timed(() => expect('GET', '/v1/coordination/nodes/bench-rest/node', '', 200));
    const sequential = JSON.stringify({ data: Buffer.from(DATA).toString('base64'), sequential: true });
    const started = performance.now();
    for (let i = 0; i < CREATES; i += 1) await expect('POST', '/v1/coordination/nodes/bench-rest/seq/n-', sequential, 201);
    return { setMs, getMs, createsPerSecond: perSecond(CREATES, performance.now() - started) };
  } finally {
    client.close();
  }
}

async function measureFunction(platform: BenchPlatform): Promise<Samples> {
  const functionId = await deploy(platform, 'bench-coordination', FUNCTION);
  const client = new Poster(platform.webhookUrl, 1);
  try {
    const body = JSON.stringify({ payload: { calls: CALLS, warmup: WARMUP, creates: CREATES, data: DATA } });
    const answer = await client.post(`/function/${functionId}?wait=true`, body);
    if (answer.status !== 200) throw new Error(`the coordination function answered ${answer.status}: ${answer.body}`);
    const out = JSON.parse(answer.body) as { set: number[]; get: number[]; creates_per_s: number };
    return { setMs: out.set, getMs: out.get, createsPerSecond: out.creates_per_s };
  } finally {
    client.close();
    await undeploy(platform, [functionId]);
  }
}

/** The figures of one way in (REST or function), against ZooKeeper's (or with why it was not measured). */
function figuresOf(label: string, samples: Samples, zk: Samples | string): Figure[] {
  // Why ZooKeeper was not measured is said once per way in, on its first row.
  let why = typeof zk === 'string' ? `baseline not measured: ${zk}` : undefined;
  const baseline = (name: string, value: (z: Samples) => number): { baseline?: Figure['baseline']; note?: string } => {
    if (typeof zk !== 'string') return { baseline: { name, value: value(zk) } };
    const note = why;
    why = undefined;
    return note === undefined ? {} : { note };
  };
  return [
    { name: `coordination set, ${label}, p50`, value: percentile(samples.setMs, 50), unit: 'ms', ...baseline('ZooKeeper set via kazoo, p50', (z) => percentile(z.setMs, 50)), target: { of: 'ratio', op: '<=', limit: 1 } },
    { name: `coordination set, ${label}, p99`, value: percentile(samples.setMs, 99), unit: 'ms', ...baseline('ZooKeeper set via kazoo, p99', (z) => percentile(z.setMs, 99)) },
    { name: `coordination get, ${label}, p50`, value: percentile(samples.getMs, 50), unit: 'ms', ...baseline('ZooKeeper get via kazoo, p50', (z) => percentile(z.getMs, 50)), target: { of: 'ratio', op: '<=', limit: 1 } },
    { name: `coordination get, ${label}, p99`, value: percentile(samples.getMs, 99), unit: 'ms', ...baseline('ZooKeeper get via kazoo, p99', (z) => percentile(z.getMs, 99)) },
    { name: `coordination sequential creates, ${label}`, value: samples.createsPerSecond, unit: 'creates/s', ...baseline('ZooKeeper via kazoo', (z) => z.createsPerSecond), target: { of: 'ratio', op: '>=', limit: 1 } },
  ];
}

/** ZooKeeper's samples, or why there are none: it could not be installed, started or measured. */
async function zooKeeperSamples(say: (line: string) => void): Promise<Samples | string> {
  const unavailable = await installZooKeeper(() => say('installing ZooKeeper and kazoo (Debian packages zookeeper, python3-kazoo)'));
  if (unavailable !== undefined) return unavailable;
  say(`ZooKeeper standalone on loopback through kazoo: ${CALLS} sets, ${CALLS} gets, ${CREATES} sequential creates`);
  let server: ZooKeeper;
  try {
    server = await startZooKeeper();
  } catch (error) {
    return `ZooKeeper did not start: ${(error as Error).message.split('\n')[0]}`;
  }
  try {
    return await measureZooKeeper(server.port);
  } catch (error) {
    // The script's own error (kazoo's time-out, say) is the last line it wrote.
    const stderr = ((error as { stderr?: string }).stderr ?? '').trim().split('\n').pop();
    return `ZooKeeper through kazoo failed: ${stderr || (error as Error).message.split('\n')[0]}`;
  } finally {
    await server.stop();
  }
}

export async function measureCoordination(platform: BenchPlatform, figures: Figure[], say: (line: string) => void): Promise<void> {
  const zk = await zooKeeperSamples(say);
  say(`coordination through the REST API: ${CALLS} sets, ${CALLS} gets, ${CREATES} sequential creates over one kept-alive connection`);
  figures.push(...figuresOf('REST API', await measureRest(platform), zk));
  say('coordination from inside a function: the same, timed in the function');
  figures.push(...figuresOf('from a function', await measureFunction(platform), zk));
}
