/**
 * Hostile functions, in warm containers and on the cold path, real Docker: whatever a function
 * does ends only its own request. After a fork bomb, a memory bomb, an endless loop, a crash or a
 * process left running, its container is removed and the next request runs in another one; a
 * write to / or a socket opened to a local address fails inside the box; 100 MB of output is cut
 * to the log cap. The next request of the same function, and of another, succeeds.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  assertNoLeftoverContainers,
  deployFunction,
  invoke,
  leftoverContainers,
  removeFunctionImages,
  startTestPlatform,
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
  '        return {"host": socket.gethostname(), "processes": len(others)}',
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

/** The host's address on Docker's default bridge: a local address a container with a network could reach. */
function bridgeGateway(): string {
  const out = execFileSync('docker', ['network', 'inspect', 'bridge', '-f', '{{range .IPAM.Config}}{{.Gateway}}{{end}}'], { encoding: 'utf8' }).trim();
  return out || '172.17.0.1';
}

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
