/**
 * Hostile functions, in warm containers and on the cold path, real Docker: whatever a function
 * does ends only its own request. After a fork bomb, a memory bomb, an endless loop, a crash or a
 * process left running, its container is removed and the next request runs in another one; a
 * write to / or a socket opened to a local address fails inside the box; 100 MB of output is cut
 * to the log cap. The next request of the same function, and of another, succeeds.
 *
 * Network: only a function that asks for it (`network`) on a platform whose `[runner] network`
 * names one reaches a server on the host; on the same platform the others still have none, a
 * PATCH changes it for the next request, and a runner with none fails such a function's requests.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { now } from '../common/ids.js';
import {
  assertNoLeftoverContainers,
  bridgeGateway,
  call,
  deployFunction,
  invoke,
  leftoverContainers,
  removeFunctionImages,
  startTestPlatform,
  waitFor,
  waitForRequest,
  type TestPlatform,
} from './helpers/platform.js';

const HOSTILE = [
  'import os, socket, time',
  '',
  'def main(payload=None):',
  '    kind = payload["kind"] if isinstance(payload, dict) else payload',
  '    if kind == "whoami":',
  '        others = [name for name in os.listdir("/proc") if name.isdigit() and int(name) != os.getpid()]',
  '        return {"host": socket.gethostname(), "processes": len(others), "interfaces": sorted(os.listdir("/sys/class/net"))}',
  '    if kind == "fork-bomb":',
  '        while True:',
  '            try:',
  '                os.fork()',
  '            except OSError:',
  '                pass',
  '    if kind == "memory-bomb":',
  '        hog = []',
  '        while True:',
  '            hog.append(bytearray(16 * 1024 * 1024))',
  '    if kind == "endless-loop":',
  '        while True:',
  '            pass',
  '    if kind == "crash":',
  '        os._exit(3)',
  '    if kind == "leave-a-process":',
  '        if os.fork() == 0:',
  '            time.sleep(600)',
  '        return "left one running"',
  '    if kind == "write-to-root":',
  '        open("/pratai-was-here", "w").write("x")',
  '    if kind == "open-sockets":',
  '        found = {}',
  '        for host, port in payload["targets"]:',
  '            sock = socket.socket()',
  '            sock.settimeout(5)',
  '            try:',
  '                sock.connect((host, port))',
  '                found[host] = "connected"',
  '            except OSError as error:',
  '                found[host] = error.strerror or str(error)',
  '            finally:',
  '                sock.close()',
  '        return found',
  '    if kind == "print-100-mb":',
  '        line = "x" * (1024 * 1024)',
  '        for _ in range(100):',
  '            print(line)',
  '        return "printed"',
  '',
].join('\n');

interface Hostile {
  what: string;
  payload: (platform: TestPlatform) => unknown;
  /** Whether the container must be discarded after it. */
  discards: boolean;
  check: (request: any) => void;
}

const HOSTILES: Hostile[] = [
  {
    what: 'a fork bomb',
    payload: () => 'fork-bomb',
    discards: true,
    // Stopped by the pids limit, then killed at the timeout; or by the memory limit, if its copies fill it first.
    check: (r) => assert.ok(['Timeout', 'MemoryLimitExceeded'].includes(r.error?.type), JSON.stringify(r.error)),
  },
  { what: 'a memory bomb', payload: () => 'memory-bomb', discards: true, check: (r) => assert.equal(r.error?.type, 'MemoryLimitExceeded') },
  { what: 'an endless loop', payload: () => 'endless-loop', discards: true, check: (r) => assert.equal(r.status, 'timeout') },
  { what: 'a crash of the runtime', payload: () => 'crash', discards: true, check: (r) => assert.equal(r.error?.type, 'ContainerExited') },
  { what: 'a process left running after main returned', payload: () => 'leave-a-process', discards: true, check: (r) => assert.equal(r.response, 'left one running') },
  {
    what: 'a write to /',
    payload: () => 'write-to-root',
    discards: false,
    check: (r) => {
      assert.equal(r.status, 'failed');
      assert.match(r.error?.message, /Read-only file system/);
    },
  },
  {
    what: 'sockets opened to 127.0.0.1 and to the host',
    payload: (platform) => ({ kind: 'open-sockets', targets: [['127.0.0.1', Number(new URL(platform.webhookUrl).port)], [bridgeGateway(), Number(new URL(platform.webhookUrl).port)]] }),
    discards: false,
    check: (r) => {
      assert.equal(r.status, 'succeeded', JSON.stringify(r.error));
      for (const [host, result] of Object.entries(r.response as Record<string, string>)) assert.match(result, /refused|unreachable/i, `connecting to ${host}`);
    },
  },
  {
    what: 'printing 100 MB',
    payload: () => 'print-100-mb',
    discards: false,
    check: (r) => {
      assert.equal(r.response, 'printed');
      assert.match(r.logs.at(-1)?.message ?? '', /log output truncated at 1048576 bytes/);
      // The cap (1 MiB of records), then the record that says so.
      assert.ok(Buffer.byteLength(JSON.stringify(r.logs)) <= 1024 * 1024 + 1024);
    },
  },
];

const MODES = [
  { name: 'warm containers', runner: { pool_size: '16', prewarm: '2' }, warm: true },
  { name: 'fresh containers (the cold path)', runner: { pool_size: '0', prewarm: '0' }, warm: false },
];

for (const mode of MODES) {
  describe(`hostile functions in ${mode.name}`, () => {
    let platform: TestPlatform;
    let hostile: string;
    let bystander: string;
    const run = async (functionId: string, payload: unknown): Promise<any> => waitForRequest(platform, await invoke(platform, functionId, payload));

    before(async () => {
      platform = await startTestPlatform({ runner: mode.runner });
      hostile = (await deployFunction(platform, { 'new_module.py': HOSTILE }, { name: 'hostile', memory: '64', timeout: '3' })).function_id;
      bystander = (await deployFunction(platform, { 'new_module.py': HOSTILE }, { name: 'bystander' })).function_id;
    });
    after(async () => {
      await platform.close();
      assertNoLeftoverContainers(platform.runnerName);
      removeFunctionImages([hostile, bystander]);
    });

    for (const { what, payload, discards, check } of HOSTILES) {
      const then = discards ? 'its container is removed and the next request runs in another one' : mode.warm ? 'its container serves the next request' : 'the next request succeeds';
      test(`${what} ends only its own request: ${then}`, async () => {
        const before = (await run(hostile, 'whoami')).response;
        check(await run(hostile, payload(platform)));
        const next = await run(hostile, 'whoami');
        assert.equal(next.status, 'succeeded', JSON.stringify(next.error));
        assert.equal(next.response.processes, 0, 'nothing else runs in the container of the next request');
        if (discards) {
          assert.notEqual(next.response.host, before.host);
          assert.ok(!leftoverContainers(platform.runnerName).some((id) => id.startsWith(before.host)), 'the discarded container is gone');
        } else if (mode.warm) {
          assert.equal(next.response.host, before.host);
        }
        assert.equal((await run(bystander, 'whoami')).status, 'succeeded');
      });
    }
  });
}

/** A container's label, or undefined once the container is gone. */
function labelOf(container: string, label: string): string | undefined {
  try {
    return execFileSync('docker', ['inspect', '-f', `{{index .Config.Labels ${JSON.stringify(label)}}}`, container], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

describe('network, only for functions that ask for it where the operator gives one', () => {
  let platform: TestPlatform;
  let server: Server;
  /** Connections the server on the host accepted. */
  let connections = 0;
  /** The server: the host's address on the bridge, and its port. */
  let target: [string, number];
  const functionIds: string[] = [];
  const run = async (functionId: string, payload: unknown): Promise<any> => waitForRequest(platform, await invoke(platform, functionId, payload));
  const deploy = async (name: string, fields: Record<string, string> = {}): Promise<any> => {
    const fn = await deployFunction(platform, { 'new_module.py': HOSTILE }, { name, ...fields });
    functionIds.push(fn.function_id);
    return fn;
  };
  /** What became of the function's attempt to connect to the server: `connected`, or the error. */
  const reach = async (functionId: string): Promise<string> => {
    const request = await run(functionId, { kind: 'open-sockets', targets: [target] });
    assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
    return request.response[target[0]];
  };
  const whoami = async (functionId: string): Promise<{ host: string; interfaces: string[] }> => {
    const request = await run(functionId, 'whoami');
    assert.equal(request.status, 'succeeded', JSON.stringify(request.error));
    return request.response;
  };
  const patch = async (functionId: string, body: unknown): Promise<void> => {
    const response = await call(`${platform.apiUrl}/v1/functions/${functionId}`, { method: 'PATCH', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal(response.status, 200, JSON.stringify(response.body));
  };

  before(async () => {
    const gateway = bridgeGateway();
    server = createServer((socket) => {
      connections += 1;
      socket.end();
    });
    // On the bridge's address only: reachable from containers on the bridge, not from elsewhere.
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, gateway, resolve));
    target = [gateway, (server.address() as AddressInfo).port];
    platform = await startTestPlatform({ runner: { network: 'bridge', pool_size: '16', prewarm: '2' } });
  });
  after(async () => {
    await platform?.close();
    await new Promise((resolve) => server?.close(resolve));
    if (platform) assertNoLeftoverContainers(platform.runnerName);
    removeFunctionImages(functionIds);
  });

  test('a function with network=true reaches a server on the host, from a container of its own image on the network, never a prewarmed one', async () => {
    const prewarmed = (): string[] => leftoverContainers(platform.runnerName).filter((id) => labelOf(id, 'pratai.prewarmed') === 'true');
    await waitFor('the prewarmed containers', async () => (prewarmed().length >= 2 ? true : undefined));
    const fn = await deploy('with-network', { network: 'true' });
    assert.equal(fn.network, true);
    const seen = connections;
    assert.equal(await reach(fn.function_id), 'connected');
    await waitFor('the server to accept the connection', async () => (connections === seen + 1 ? true : undefined));
    const { host, interfaces } = await whoami(fn.function_id);
    assert.ok(interfaces.includes('eth0'), `an interface on the network: ${interfaces.join(', ')}`);
    assert.equal(labelOf(host, 'pratai.function_id'), fn.function_id, 'a container made for the function');
    assert.equal(labelOf(host, 'pratai.prewarmed'), '', 'not a prewarmed container, which has no network');
  });

  test('a function without network gets none on the same platform: its socket attempt fails and it has only lo', async () => {
    const fn = await deploy('without-network');
    assert.equal(fn.network, false);
    const seen = connections;
    assert.match(await reach(fn.function_id), /refused|unreachable/i);
    assert.deepEqual((await whoami(fn.function_id)).interfaces, ['lo']);
    assert.equal(connections, seen, 'the server saw nobody');
  });

  test('PATCH of network changes it from the next request on: the warm container made with the old setting serves no more', async () => {
    const fn = await deploy('toggled');
    const without = (await whoami(fn.function_id)).host;
    assert.match(await reach(fn.function_id), /refused|unreachable/i);

    await patch(fn.function_id, { network: true });
    const withNetwork = await whoami(fn.function_id);
    assert.notEqual(withNetwork.host, without, 'another container');
    assert.ok(withNetwork.interfaces.includes('eth0'));
    assert.equal(await reach(fn.function_id), 'connected');
    await waitFor('the container without network to be removed', async () => (labelOf(without, 'pratai.runner') === undefined ? true : undefined));

    await patch(fn.function_id, { network: false });
    const again = await whoami(fn.function_id);
    assert.notEqual(again.host, withNetwork.host, 'another container again');
    assert.deepEqual(again.interfaces, ['lo']);
    assert.match(await reach(fn.function_id), /refused|unreachable/i);
  });

  test("a runner whose [runner] network is none fails the requests of a function that asks for network, naming the option", async () => {
    const closed = await startTestPlatform();
    try {
      const fn = await deployFunction(closed, { 'new_module.py': HOSTILE }, { name: 'asks-for-network' });
      functionIds.push(fn.function_id);
      // As if its API process had another [runner] network, or the operator took network away after.
      assert.ok(await closed.store.updateFunction(fn.function_id, { network: true, updated_at: now() }));
      const request = await waitForRequest(closed, await invoke(closed, fn.function_id, 'whoami'));
      assert.equal(request.status, 'failed');
      assert.equal(request.error?.type, 'NetworkNotAllowed');
      assert.match(request.error?.message ?? '', /\[runner\] network is none/);
      assert.equal(request.response, null);
      assertNoLeftoverContainers(closed.runnerName);
    } finally {
      await closed.close();
    }
  });
});
