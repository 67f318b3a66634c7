// The python3 runtime (runtimes/python3/: runtime.py starting the pratai_runtime package) in its real image, driven over the protocol of
// runtimes/README.md exactly as a runner would: `docker run -i`, JSON lines in and out.
// Needs pratai/runtime-python3:latest, which `node scripts/setup.mjs` builds (npm test's pretest).

import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import type { LogRecord, RequestError } from '../common/domain.js';

const IMAGE = 'pratai/runtime-python3:latest';
const TEST_RUN = randomUUID().slice(0, 8);
const LABEL = `pratai.test=runtime-python3-${TEST_RUN}`;
const DEFAULT_MAX_LOG_BYTES = 1_048_576;
const LINE_TIMEOUT_MS = 30_000;
const ISO_UTC_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

const execFileAsync = promisify(execFile);

type ReadyMessage = { type: 'ready'; runtime: string; python: string; pid: number; protocol: number };
type Leftover = { processes: number; threads: number };
type ResultMessage =
  | { type: 'result'; id: string; status: 'succeeded'; response: unknown; logs: LogRecord[]; duration_ms: number; leftover: Leftover }
  | { type: 'result'; id: string; status: 'failed'; error: RequestError; logs: LogRecord[]; duration_ms: number; leftover: Leftover };
type ErrorMessage = { type: 'error'; message: string; id?: string };
type LogMessage = { type: 'log'; id: string; record: LogRecord };
type LogsMessage = { type: 'logs'; id: string; logs: LogRecord[] };
type CallMessage = { type: 'call'; id: string; call: number; service: string; method: string; args: Record<string, unknown> };
type RuntimeMessage = ReadyMessage | ResultMessage | ErrorMessage | LogMessage | LogsMessage | CallMessage;

const tempDirs: string[] = [];

/** A runtime container of the runtime image with `files` mounted as the function folder. */
class RuntimeContainer {
  private readonly lines: AsyncIterator<string>;
  private stderr = '';
  private readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcessWithoutNullStreams, readonly name: string) {
    this.lines = createInterface({ input: child.stdout, crlfDelay: Infinity })[Symbol.asyncIterator]();
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => { this.stderr = (this.stderr + chunk).slice(-8192); });
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
  }

  /** `dockerArgs`: more options for `docker run` (a mount, say). */
  static async start(files: Record<string, string>, env: Record<string, string> = {}, dockerArgs: string[] = []): Promise<RuntimeContainer> {
    const dir = await mkdtemp(join(tmpdir(), 'pratai-runtime-test-'));
    tempDirs.push(dir);
    // The runtime runs as 65534: mkdtemp's 0700 would hide the function from it.
    await chmod(dir, 0o755);
    for (const [name, content] of Object.entries(files)) {
      await writeFile(join(dir, name), content, { mode: 0o644 });
    }
    const name = `pratai-test-${TEST_RUN}-${randomUUID().slice(0, 8)}`;
    const envArgs = Object.entries(env).flatMap(([key, value]) => ['-e', `${key}=${value}`]);
    const child = spawn('docker', [
      'run', '--rm', '-i', '--network', 'none', '--name', name, '--label', LABEL,
      '-v', `${dir}:/opt/pratai/function:ro`, ...envArgs, ...dockerArgs, IMAGE,
    ]);
    return new RuntimeContainer(child, name);
  }

  /** Starts a container, checks its ready line, hands it to `body`, and always ends it. */
  static async with(
    files: Record<string, string>,
    body: (runtime: RuntimeContainer, ready: ReadyMessage) => Promise<void>,
    env: Record<string, string> = {},
    dockerArgs: string[] = [],
  ): Promise<void> {
    const runtime = await RuntimeContainer.start(files, env, dockerArgs);
    try {
      const ready = await runtime.next();
      assert.equal(ready.type, 'ready', `expected the ready line first, got ${JSON.stringify(ready)}`);
      await body(runtime, ready);
    } finally {
      await runtime.close();
    }
  }

  send(message: unknown): void {
    this.child.stdin.write(`${JSON.stringify(message)}\n`);
  }

  async next(): Promise<RuntimeMessage> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no line from ${this.name} within ${LINE_TIMEOUT_MS} ms; stderr: ${this.stderr}`)), LINE_TIMEOUT_MS);
    });
    try {
      const line = await Promise.race([this.lines.next(), timeout]);
      if (line.done) throw new Error(`${this.name} closed its output; stderr: ${this.stderr}`);
      return JSON.parse(line.value) as RuntimeMessage;
    } finally {
      clearTimeout(timer);
    }
  }

  async run(id: string, payload: unknown): Promise<ResultMessage> {
    this.send({ type: 'run', id, payload });
    const message = await this.next();
    assert.equal(message.type, 'result', `expected a result, got ${JSON.stringify(message).slice(0, 500)}`);
    const result = message;
    assert.equal(result.id, id);
    return result;
  }

  /**
   * A run that asks for its records as they are kept (stream_logs): the `log` messages that came
   * before its result, each checked to be of this run, and the result.
   */
  async runStreaming(id: string, payload: unknown): Promise<{ streamed: LogRecord[]; result: ResultMessage }> {
    this.send({ type: 'run', id, payload, stream_logs: true });
    return this.collect(id);
  }

  /** The messages of run `id` until its result: its streamed records, and the result. */
  async collect(id: string, streamed: LogRecord[] = []): Promise<{ streamed: LogRecord[]; result: ResultMessage }> {
    for (;;) {
      const message = await this.next();
      if (message.type === 'result') {
        assert.equal(message.id, id);
        return { streamed, result: message };
      }
      assert.equal(message.type, 'log', `expected log messages, then the result, got ${JSON.stringify(message).slice(0, 500)}`);
      assert.equal(message.id, id);
      streamed.push(message.record);
    }
  }

  /** Ends stdin (the runtime exits on EOF) and returns the container's exit code. */
  async close(): Promise<number | null> {
    this.child.stdin.end();
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<'stuck'>((resolve) => { timer = setTimeout(() => resolve('stuck'), 15_000); });
    const outcome = await Promise.race([this.exited, stuck]);
    clearTimeout(timer);
    if (outcome !== 'stuck') return outcome;
    await execFileAsync('docker', ['rm', '-f', this.name]).catch(() => undefined);
    return this.exited;
  }
}

function succeeded(result: ResultMessage): Extract<ResultMessage, { status: 'succeeded' }> {
  assert.equal(result.status, 'succeeded', `expected success, got ${JSON.stringify(result).slice(0, 2000)}`);
  return result;
}

function failed(result: ResultMessage): Extract<ResultMessage, { status: 'failed' }> {
  assert.equal(result.status, 'failed', `expected failure, got ${JSON.stringify(result).slice(0, 2000)}`);
  return result;
}

const newModule = (source: string): Record<string, string> => ({ 'new_module.py': source });

async function leftoverContainers(): Promise<string[]> {
  const { stdout } = await execFileAsync('docker', ['ps', '-aq', '--filter', `label=${LABEL}`]);
  return stdout.split('\n').filter(Boolean);
}

describe('python3 runtime', () => {
  before(async () => {
    await execFileAsync('docker', ['image', 'inspect', IMAGE]).catch(() => {
      throw new Error(`${IMAGE} is missing: run \`node scripts/setup.mjs\` first`);
    });
  });

  after(async () => {
    await Promise.all(tempDirs.map((dir) => rm(dir, { recursive: true, force: true })));
    // `docker run --rm` removes the container a moment after the client returns.
    let left = await leftoverContainers();
    for (let attempt = 0; left.length > 0 && attempt < 20; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      left = await leftoverContainers();
    }
    if (left.length > 0) {
      await execFileAsync('docker', ['rm', '-f', ...left]).catch(() => undefined);
      assert.fail(`containers left behind with label ${LABEL}: ${left.join(', ')}`);
    }
  });

  test('the runtime first announces itself with a ready line naming python3, its Python version and pid', async () => {
    await RuntimeContainer.with(newModule('def main(payload):\n    return payload\n'), async (_runtime, ready) => {
      assert.equal(ready.runtime, 'python3');
      assert.match(ready.python, /^3\.\d+\.\d+$/);
      assert.equal(typeof ready.pid, 'number');
    });
  });

  test('a run answers succeeded with the JSON value main returned', async () => {
    const payload = { text: 'héllo ☃ 😀', list: [1, 2.5, null, true, false], nested: { a: { b: [] } }, big: 2 ** 53 - 1 };
    await RuntimeContainer.with(newModule('def main(payload):\n    return payload\n'), async (runtime) => {
      const result = succeeded(await runtime.run('r-1', payload));
      assert.deepEqual(result.response, payload);
      assert.deepEqual(result.logs, []);
      assert.equal(typeof result.duration_ms, 'number');
      assert.ok(result.duration_ms >= 0);
    });
  });

  test("a logger record written through getLogger('pratai') arrives with level and time", async () => {
    const source = [
      'import logging',
      "log = logging.getLogger('pratai')",
      'def main(payload):',
      "    log.debug('debugging %s', payload)",
      "    log.info('hello %s', payload)",
      '    try:',
      "        {}['missing']",
      '    except KeyError:',
      "        log.exception('lookup failed')",
      "    log.getChild('db').error('child logger')",
      '    return None',
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const before = Date.now();
      const result = succeeded(await runtime.run('r-1', 'world'));
      assert.equal(result.response, null);
      assert.deepEqual(result.logs.map((record) => [record.level, record.source]), [
        ['DEBUG', 'pratai'], ['INFO', 'pratai'], ['ERROR', 'pratai'], ['ERROR', 'pratai'],
      ]);
      assert.equal(result.logs[0]?.message, 'debugging world');
      assert.equal(result.logs[1]?.message, 'hello world');
      assert.match(result.logs[2]?.message ?? '', /^lookup failed\nTraceback \(most recent call last\):[\s\S]*KeyError: 'missing'$/);
      assert.equal(result.logs[3]?.message, 'child logger');
      for (const record of result.logs) {
        assert.match(record.time, ISO_UTC_MS);
        // The container shares the host's clock; allow for a second of rounding and scheduling.
        assert.ok(Math.abs(Date.parse(record.time) - before) < 60_000, `time ${record.time} is not now`);
      }
    });
  });

  test('print(), stderr and a subprocess arrive as stdout/stderr records in the order they were written', async () => {
    const source = [
      'import logging, subprocess, sys',
      'def main(payload):',
      "    print('one')",
      "    logging.getLogger('pratai').warning('two')",
      "    print('three', file=sys.stderr)",
      // A subprocess writes to the descriptors directly: ordered within a stream, not across two.
      "    subprocess.run(['sh', '-c', 'echo four; echo five'], check=True)",
      "    print('six\\nseven')",
      "    print('eight', end='')",
      "    return 'done'",
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const result = succeeded(await runtime.run('r-1', null));
      assert.deepEqual(result.logs.map((record) => [record.source, record.level, record.message]), [
        ['stdout', 'INFO', 'one'],
        ['pratai', 'WARNING', 'two'],
        ['stderr', 'ERROR', 'three'],
        ['stdout', 'INFO', 'four'],
        ['stdout', 'INFO', 'five'],
        ['stdout', 'INFO', 'six'],
        ['stdout', 'INFO', 'seven'],
        ['stdout', 'INFO', 'eight'],
      ]);
      const times = result.logs.map((record) => Date.parse(record.time));
      assert.deepEqual(times, [...times].sort((a, b) => a - b), 'records are in time order');
    });
  });

  test('an exception raised by main is a failed outcome with its type, message and traceback', async () => {
    const source = [
      'def check(payload):',
      "    raise ValueError('bad payload: %r' % payload)",
      'def main(payload):',
      "    print('before the error')",
      '    check(payload)',
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const result = failed(await runtime.run('r-1', 42));
      assert.equal(result.error.type, 'ValueError');
      assert.equal(result.error.message, 'bad payload: 42');
      assert.match(result.error.traceback, /^Traceback \(most recent call last\):\n/);
      assert.match(result.error.traceback, /new_module\.py", line 5, in main/);
      assert.match(result.error.traceback, /in check\n/);
      assert.match(result.error.traceback, /ValueError: bad payload: 42\n$/);
      assert.doesNotMatch(result.error.traceback, /runtime\.py|pratai_runtime/, "the runtime's own frames are left out");
      assert.deepEqual(result.logs.map((record) => record.message), ['before the error']);
      assert.equal('response' in result, false);
    });
  });

  test('a return value json cannot serialize fails with ResponseNotSerializable naming the Python type', async () => {
    const source = [
      'def main(payload):',
      "    if payload == 'set':",
      '        return {1, 2}',
      "    return float('nan')",
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const set = failed(await runtime.run('r-set', 'set'));
      assert.equal(set.error.type, 'ResponseNotSerializable');
      assert.match(set.error.message, /\bset\b/);
      // NaN is not JSON: Python would write it, JSON.parse would not read it.
      const nan = failed(await runtime.run('r-nan', 'nan'));
      assert.equal(nan.error.type, 'ResponseNotSerializable');
      assert.match(nan.error.message, /\bfloat\b/);
    });
  });

  test('SystemExit and KeyboardInterrupt raised by main are failed outcomes and the container keeps serving', async () => {
    const source = [
      'import sys',
      'def main(payload):',
      "    if payload == 'exit':",
      '        sys.exit(3)',
      "    if payload == 'interrupt':",
      '        raise KeyboardInterrupt()',
      "    return 'still here'",
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const exit = failed(await runtime.run('r-1', 'exit'));
      assert.equal(exit.error.type, 'SystemExit');
      assert.equal(exit.error.message, '3');
      assert.equal(failed(await runtime.run('r-2', 'interrupt')).error.type, 'KeyboardInterrupt');
      assert.equal(succeeded(await runtime.run('r-3', null)).response, 'still here');
    });
  });

  test('two runs in one container are answered in order, and module state carries over', async () => {
    const source = ['calls = 0', 'def main(payload):', '    global calls', '    calls += 1', "    return {'calls': calls, 'payload': payload}"].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      // Both lines are sent before either answer is read.
      runtime.send({ type: 'run', id: 'first', payload: 'a' });
      runtime.send({ type: 'run', id: 'second', payload: 'b' });
      const first = (await runtime.next()) as ResultMessage;
      const second = (await runtime.next()) as ResultMessage;
      assert.equal(first.id, 'first');
      assert.deepEqual(succeeded(first).response, { calls: 1, payload: 'a' });
      assert.equal(second.id, 'second');
      assert.deepEqual(succeeded(second).response, { calls: 2, payload: 'b' });
    });
  });

  test('a module that fails to import answers every run with the import error', async () => {
    const source = ["print('loading')", 'import not_installed_anywhere', 'def main(payload):', '    return payload'].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      for (const id of ['r-1', 'r-2']) {
        const result = failed(await runtime.run(id, null));
        assert.equal(result.error.type, 'ModuleNotFoundError');
        assert.equal(result.error.message, "No module named 'not_installed_anywhere'");
        assert.match(result.error.traceback, /new_module\.py", line 2, in <module>/);
        // What the module printed while loading explains the failure: every run shows it.
        assert.deepEqual(result.logs.map((record) => record.message), ['loading']);
      }
    });
  });

  test('a module with a syntax error answers runs with SyntaxError', async () => {
    await RuntimeContainer.with(newModule('def main(payload)\n    return payload\n'), async (runtime) => {
      const result = failed(await runtime.run('r-1', null));
      assert.equal(result.error.type, 'SyntaxError');
      assert.match(result.error.traceback, /new_module\.py", line 1/);
    });
  });

  test('a function printing ~20 MB gets its logs truncated with a marker and the container still answers', async () => {
    const source = [
      'import sys',
      'def main(payload):',
      '    if payload == "flood":',
      "        line = 'x' * 999",
      '        for _ in range(20000):',
      '            print(line)',
      "        sys.stdout.write('y' * 5000000)",
      "    return 'ok'",
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const flood = succeeded(await runtime.run('r-flood', 'flood'));
      assert.equal(flood.response, 'ok');
      const last = flood.logs.at(-1);
      assert.deepEqual({ ...last, time: undefined }, {
        time: undefined, level: 'WARNING', source: 'pratai', message: `log output truncated at ${DEFAULT_MAX_LOG_BYTES} bytes`,
      });
      const kept = flood.logs.slice(0, -1);
      assert.ok(kept.length > 100, `kept ${kept.length} records`);
      // The cap bounds the records as they travel: the JSON of the kept records.
      const keptBytes = Buffer.byteLength(JSON.stringify(kept));
      assert.ok(keptBytes <= DEFAULT_MAX_LOG_BYTES, `kept ${keptBytes} bytes`);
      assert.ok(keptBytes > DEFAULT_MAX_LOG_BYTES - 2000, `kept only ${keptBytes} bytes`);
      const next = succeeded(await runtime.run('r-after', 'quiet'));
      assert.equal(next.response, 'ok');
      assert.deepEqual(next.logs, [], 'the next request starts with an empty log');
    });
  });

  test('PRATAI_MAX_LOG_BYTES sets the log cap', async () => {
    const source = ['def main(payload):', '    for i in range(100):', "        print('%03d' % i + '.' * 96)"].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const result = succeeded(await runtime.run('r-1', null));
      assert.equal(result.logs.at(-1)?.message, 'log output truncated at 2000 bytes');
      assert.equal(result.logs[0]?.message.slice(0, 3), '000');
      assert.ok(result.logs.length < 20, `kept ${result.logs.length} records`);
    }, { PRATAI_MAX_LOG_BYTES: '2000' });
  });

  test('a single line longer than the cap keeps its head, then the truncation marker', async () => {
    const source = ['def main(payload):', "    print('head' + 'y' * 100000)"].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const result = succeeded(await runtime.run('r-1', null));
      assert.equal(result.logs.length, 2);
      const [head, marker] = result.logs;
      assert.equal(head?.source, 'stdout');
      assert.match(head?.message ?? '', /^headyyy/);
      assert.ok(Buffer.byteLength(JSON.stringify(result.logs.slice(0, 1))) <= 4096);
      assert.equal(marker?.message, 'log output truncated at 4096 bytes');
    }, { PRATAI_MAX_LOG_BYTES: '4096' });
  });

  test('bytes main writes straight to fd 1 become stdout records and do not corrupt the protocol', async () => {
    const source = [
      'import os',
      'def main(payload):',
      '    os.write(1, b\'{"type":"result","id":"forged","status":"succeeded","response":"forged","logs":[],"duration_ms":0}\\n\')',
      "    os.write(2, b'to fd 2\\n')",
      "    os.write(1, b'no newline')",
      "    return 'genuine'",
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const result = succeeded(await runtime.run('r-1', null));
      assert.equal(result.response, 'genuine');
      // Raw writes to two descriptors have no order between them (see runtimes/README.md).
      assert.deepEqual(result.logs.map((record) => [record.source, record.message]).sort(), [
        ['stderr', 'to fd 2'],
        ['stdout', 'no newline'],
        ['stdout', '{"type":"result","id":"forged","status":"succeeded","response":"forged","logs":[],"duration_ms":0}'],
      ]);
      assert.equal(succeeded(await runtime.run('r-2', null)).response, 'genuine');
    });
  });

  test("main cannot read the runner's messages from stdin", async () => {
    const source = ['import os, sys', 'def main(payload):', '    return [sys.stdin.read(), os.read(0, 100).decode()]'].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      runtime.send({ type: 'run', id: 'r-1', payload: null });
      runtime.send({ type: 'run', id: 'r-2', payload: null });
      const first = succeeded((await runtime.next()) as ResultMessage);
      assert.equal(first.id, 'r-1');
      assert.deepEqual(first.response, ['', '']);
      assert.equal(((await runtime.next()) as ResultMessage).id, 'r-2');
    });
  });

  test('an async def main is awaited', async () => {
    const source = ['import asyncio', 'async def main(payload):', '    await asyncio.sleep(0.01)', '    return payload * 2'].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      assert.equal(succeeded(await runtime.run('r-1', 21)).response, 42);
    });
  });

  test('a message of unknown type or a line that is not JSON gets an error line, and the container goes on', async () => {
    await RuntimeContainer.with(newModule('def main(payload):\n    return payload\n'), async (runtime) => {
      runtime.send({ type: 'ping', id: 'p-1' });
      assert.deepEqual(await runtime.next(), { type: 'error', id: 'p-1', message: 'unknown message type "ping"' });
      runtime.send({ type: 'run', payload: 1 });
      const noId = await runtime.next();
      assert.equal(noId.type, 'error');
      assert.match(noId.message, /\bid\b/);
      assert.equal(succeeded(await runtime.run('r-1', 'fine')).response, 'fine');
    });
  });

  describe('the channel: a Unix socket at PRATAI_SOCKET', () => {
    test('the runtime connects to the socket and speaks the protocol over it, writing nothing on stdout', async () => {
      const folder = await mkdtemp(join(tmpdir(), 'pratai-channel-test-'));
      tempDirs.push(folder);
      await chmod(folder, 0o755);
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(join(folder, 'channel.sock'), resolve));
      await chmod(join(folder, 'channel.sock'), 0o777);
      const connected = new Promise<Socket>((resolve) => server.once('connection', resolve));
      const name = `pratai-test-${TEST_RUN}-${randomUUID().slice(0, 8)}`;
      const child = spawn('docker', [
        'run', '--rm', '-i', '--network', 'none', '--user', '65534:65534', '--read-only', '--name', name, '--label', LABEL,
        '-v', `${folder}:/run/pratai:ro`, '-e', 'PRATAI_SOCKET=/run/pratai/channel.sock', '-e', 'PRATAI_AWAIT_INIT=1', IMAGE,
      ]);
      let stdout = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      const exited = new Promise((resolve) => child.on('close', resolve));
      try {
        const socket = await connected;
        const lines = createInterface({ input: socket, crlfDelay: Infinity })[Symbol.asyncIterator]();
        const next = async (): Promise<Record<string, unknown>> => JSON.parse((await lines.next()).value as string) as Record<string, unknown>;
        const ready = await next();
        assert.deepEqual([ready.type, ready.protocol], ['ready', 5]);
        socket.write(`${JSON.stringify({ type: 'init', function_id: 'f-1', module: "def main(payload=None):\n    print('printed')\n    return payload\n" })}\n`);
        socket.write(`${JSON.stringify({ type: 'run', id: 'r-1', payload: { over: 'socket' } })}\n`);
        const result = await next();
        assert.deepEqual([result.type, result.id, result.status, result.response], ['result', 'r-1', 'succeeded', { over: 'socket' }]);
        assert.deepEqual((result.logs as LogRecord[]).map((record) => record.message), ['printed'], "the function's print is a log record");
        socket.end(); // EOF on the channel: the runtime exits
        assert.equal(await exited, 0);
        assert.equal(stdout, '', 'nothing on stdout');
      } finally {
        child.kill();
        server.close();
      }
    });

    test('where nothing listens at PRATAI_SOCKET, the runtime speaks over stdin and stdout', async () => {
      await RuntimeContainer.with({ 'new_module.py': 'def main(payload=None):\n    return payload\n' }, async (runtime, ready) => {
        assert.equal(ready.protocol, 5);
        assert.deepEqual(succeeded(await runtime.run('r-1', 'stdio')).response, 'stdio');
      }, { PRATAI_SOCKET: '/run/pratai/channel.sock' });
    });
  });

  describe('a prewarmed runtime (PRATAI_AWAIT_INIT=1)', () => {
    const AWAIT_INIT = { PRATAI_AWAIT_INIT: '1' };

    test('loads the module sent in init and serves it like one imported from the function folder', async () => {
      const source = ['import os', "print('loading')", 'def main(payload):', '    if payload == "raise":', "        raise ValueError('bad')", '    return [payload, __file__, os.environ["PRATAI_FUNCTION_ID"]]'].join('\n');
      await RuntimeContainer.with({}, async (runtime, ready) => {
        assert.equal(ready.protocol, 5);
        runtime.send({ type: 'init', function_id: 'f-1', module: source });
        const first = succeeded(await runtime.run('r-1', 1));
        assert.deepEqual(first.response, [1, '/opt/pratai/function/new_module.py', 'f-1']);
        assert.deepEqual(first.logs.map((record) => record.message), ['loading'], 'output of the import goes to the first request');
        const failure = failed(await runtime.run('r-2', 'raise'));
        assert.match(failure.error.traceback, /new_module\.py", line 5, in main\n {4}raise ValueError\('bad'\)/, 'the traceback shows the source line');
      }, AWAIT_INIT);
    });

    test('a module sent in init that fails to import answers every run with the import error', async () => {
      await RuntimeContainer.with({}, async (runtime) => {
        runtime.send({ type: 'init', function_id: 'f-1', module: 'import not_installed_anywhere\n' });
        for (const id of ['r-1', 'r-2']) {
          const result = failed(await runtime.run(id, null));
          assert.equal(result.error.type, 'ModuleNotFoundError');
          assert.match(result.error.traceback, /^Traceback \(most recent call last\):\n {2}File "\/opt\/pratai\/function\/new_module\.py", line 1, in <module>\n/);
          assert.doesNotMatch(result.error.traceback, /runtime\.py|pratai_runtime/, "the runtime's own frames are left out");
        }
      }, AWAIT_INIT);
    });

    test('init is accepted once, before any run: a second one gets an error line, a run before it fails', async () => {
      await RuntimeContainer.with({}, async (runtime) => {
        assert.equal(failed(await runtime.run('r-1', null)).error.type, 'FunctionNotLoaded');
        runtime.send({ type: 'init', id: 'i-1', module: 'def main(payload):\n    return 1\n' });
        const refused = (await runtime.next()) as ErrorMessage;
        assert.equal(refused.type, 'error');
        assert.equal(refused.id, 'i-1');
      }, AWAIT_INIT);
    });
  });

  test("a function's own modules named like the runtime's do not disturb it", async () => {
    const files = {
      // pratai_runtime is loaded before the function folder is on sys.path: this one is never imported.
      'pratai_runtime.py': "raise RuntimeError('the function shadowed the runtime')\n",
      'channel.py': "WHOSE = 'the function'\n",
      'server.py': "raise RuntimeError('the function shadowed the runtime')\n",
      'new_module.py': "import channel\nprint('printed')\ndef main(payload):\n    return channel.WHOSE\n",
    };
    await RuntimeContainer.with(files, async (runtime) => {
      const result = succeeded(await runtime.run('r-1', null));
      assert.equal(result.response, 'the function');
      assert.deepEqual(result.logs.map((record) => record.message), ['printed']);
    });
  });

  describe('streamed log records (protocol 4: a run with stream_logs)', () => {
    /** A folder the test writes to and the function only reads: how the test tells main to go on. */
    async function signalFolder(): Promise<{ dir: string; mount: string[] }> {
      const dir = await mkdtemp(join(tmpdir(), 'pratai-runtime-signal-'));
      tempDirs.push(dir);
      await chmod(dir, 0o755);
      return { dir, mount: ['-v', `${dir}:/opt/pratai/signal:ro`] };
    }
    const waitForGo = [
      'def wait_for_go():',
      '    for _ in range(6000):',
      "        if os.path.exists('/opt/pratai/signal/go'):",
      '            return True',
      '        time.sleep(0.01)',
      '    return False',
    ];

    test('each record a run keeps arrives in a log message before its result, in order: the records the result carries', async () => {
      const source = [
        'import logging, subprocess, sys',
        "print('loading')",
        'def main(payload):',
        "    print('one %s' % payload)",
        "    logging.getLogger('pratai').warning('two')",
        "    print('three', file=sys.stderr)",
        "    subprocess.run(['sh', '-c', 'echo four; echo five'], check=True)",
        "    print('six ☃\\nseven')",
        "    print('eight', end='')",
        '    return payload',
      ].join('\n');
      await RuntimeContainer.with(newModule(source), async (runtime) => {
        const first = await runtime.runStreaming('r-1', 'a');
        assert.equal(succeeded(first.result).response, 'a');
        const expected = [
          ['stdout', 'INFO', 'one a'], ['pratai', 'WARNING', 'two'], ['stderr', 'ERROR', 'three'], ['stdout', 'INFO', 'four'],
          ['stdout', 'INFO', 'five'], ['stdout', 'INFO', 'six ☃'], ['stdout', 'INFO', 'seven'], ['stdout', 'INFO', 'eight'],
        ];
        assert.deepEqual(first.streamed.map((record) => [record.source, record.level, record.message]), expected);
        // What the import wrote belongs to no run: it is in the first result, never streamed.
        assert.deepEqual(first.result.logs, [{ ...first.result.logs[0], message: 'loading' }, ...first.streamed]);

        const second = await runtime.runStreaming('r-2', 'b');
        assert.equal(succeeded(second.result).response, 'b');
        assert.equal(second.streamed[0]?.message, 'one b');
        assert.deepEqual(second.streamed, second.result.logs);

        // A run that does not ask gets its result and nothing before it (run() checks), as before.
        const quiet = succeeded(await runtime.run('r-3', 'c'));
        assert.equal(quiet.logs.length, expected.length);
      });
    });

    test('a record logged while main still runs arrives before main returns', async () => {
      const { dir, mount } = await signalFolder();
      const source = [
        'import logging, os, time',
        ...waitForGo,
        'def main(payload):',
        "    print('waiting for the test')",
        "    logging.getLogger('pratai').info('still waiting')",
        "    went = wait_for_go()",
        "    print('went' if went else 'gave up')",
        "    return 'went' if went else 'gave up'",
      ].join('\n');
      await RuntimeContainer.with(newModule(source), async (runtime) => {
        runtime.send({ type: 'run', id: 'r-1', payload: null, stream_logs: true });
        // main waits for the go file, which is written only once these two have arrived: they
        // cannot have come with (or after) the result.
        const streamed: LogRecord[] = [];
        for (const expected of ['waiting for the test', 'still waiting']) {
          const message = await runtime.next();
          assert.deepEqual([message.type, message.type === 'log' && message.id, message.type === 'log' && message.record.message], ['log', 'r-1', expected]);
          if (message.type === 'log') streamed.push(message.record);
        }
        await writeFile(join(dir, 'go'), '');
        const { result } = await runtime.collect('r-1', streamed);
        assert.equal(succeeded(result).response, 'went');
        assert.deepEqual(streamed.map((record) => record.message), ['waiting for the test', 'still waiting', 'went']);
        assert.deepEqual(streamed, result.logs);
      }, {}, mount);
    });

    test('the log cap applies to what is streamed: records it drops are not sent, the truncation marker is', async () => {
      const source = [
        'def main(payload):',
        "    if payload == 'lines':",
        '        for i in range(100):',
        "            print('%03d' % i + '.' * 96)",
        '    else:',
        "        print('head' + 'y' * 100000)",
      ].join('\n');
      await RuntimeContainer.with(newModule(source), async (runtime) => {
        const lines = await runtime.runStreaming('r-lines', 'lines');
        assert.deepEqual(lines.streamed, lines.result.logs);
        assert.ok(lines.streamed.length < 40, `streamed ${lines.streamed.length} records`);
        assert.equal(lines.streamed[0]?.message.slice(0, 3), '000');
        assert.equal(lines.streamed.at(-1)?.message, 'log output truncated at 4096 bytes');

        // One line longer than the cap: its head is kept (and streamed), then the marker.
        const long = await runtime.runStreaming('r-long', 'long');
        assert.deepEqual(long.streamed, long.result.logs);
        assert.deepEqual(long.streamed.map((record) => record.source), ['stdout', 'pratai']);
        assert.match(long.streamed[0]?.message ?? '', /^headyyy/);
        assert.equal(long.streamed[1]?.message, 'log output truncated at 4096 bytes');
      }, { PRATAI_MAX_LOG_BYTES: '4096' });
    });

    test('SIGUSR1 while records stream: its logs answer and every log line arrive whole', async () => {
      const { dir, mount } = await signalFolder();
      // main prints without pause (up to a bound), so the signals land while lines are written,
      // and runs until told to stop, so every signal finds it running.
      const source = [
        'import os, time',
        'def main(payload):',
        '    count = 0',
        '    deadline = time.monotonic() + 60',
        "    while not os.path.exists('/opt/pratai/signal/go') and time.monotonic() < deadline:",
        '        if count < 30000:',
        '            count += 1',
        "            print('line %d' % count)",
        '        else:',
        '            time.sleep(0.01)',
        '    return count',
      ].join('\n');
      await RuntimeContainer.with(newModule(source), async (runtime) => {
        runtime.send({ type: 'run', id: 'r-1', payload: null, stream_logs: true });
        const streamed: LogRecord[] = [];
        let answers = 0;
        // next() parses every line: one written into the middle of another would fail here.
        const until = async (type: 'log' | 'logs'): Promise<void> => {
          for (;;) {
            const message = await runtime.next();
            assert.ok(message.type === 'log' || message.type === 'logs', `expected log or logs, got ${JSON.stringify(message).slice(0, 300)}`);
            assert.equal(message.id, 'r-1');
            if (message.type === 'log') streamed.push(message.record);
            else answers += 1;
            if (message.type === type) return;
          }
        };
        await until('log');
        for (let signal = 0; signal < 5; signal += 1) {
          await execFileAsync('docker', ['kill', '--signal', 'USR1', runtime.name]);
          await until('logs');
        }
        await writeFile(join(dir, 'go'), '');
        const { result } = await runtime.collect('r-1', streamed);
        assert.equal(answers, 5);
        const count = succeeded(result).response as number;
        assert.deepEqual(streamed, result.logs);
        assert.deepEqual(result.logs.map((record) => record.message), Array.from({ length: count }, (_, i) => `line ${i + 1}`));
      }, { PRATAI_MAX_LOG_BYTES: String(8 * 1024 * 1024) }, mount);
    });
  });

  test('each run sees its request id in PRATAI_REQUEST_ID', async () => {
    await RuntimeContainer.with(newModule('import os\ndef main(payload):\n    return os.environ["PRATAI_REQUEST_ID"]\n'), async (runtime) => {
      assert.equal(succeeded(await runtime.run('r-1', null)).response, 'r-1');
      assert.equal(succeeded(await runtime.run('r-2', null)).response, 'r-2');
    });
  });

  test('a result says what main left running: the processes it forked and the threads it started', async () => {
    const source = [
      'import os, threading, time',
      'def main(payload):',
      '    if payload == "fork":',
      '        if os.fork() == 0:',
      '            time.sleep(60)',
      '    if payload == "thread":',
      '        threading.Thread(target=time.sleep, args=(60,), daemon=True).start()',
      '    return payload',
    ].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      assert.deepEqual(succeeded(await runtime.run('r-1', 'nothing')).leftover, { processes: 0, threads: 0 });
      assert.deepEqual(succeeded(await runtime.run('r-2', 'thread')).leftover, { processes: 0, threads: 1 });
      assert.deepEqual(succeeded(await runtime.run('r-3', 'fork')).leftover, { processes: 1, threads: 1 });
    });
  });

  test('a process forked by main that returns into the runtime ends there: only main answers', async () => {
    const source = ['import os', 'def main(payload):', '    pid = os.fork()', "    print('child' if pid == 0 else 'parent')", "    return 'from child' if pid == 0 else 'from parent'"].join('\n');
    await RuntimeContainer.with(newModule(source), async (runtime) => {
      const result = succeeded(await runtime.run('r-1', null));
      assert.equal(result.response, 'from parent');
      // The next line is the answer to the next run, not a second answer from the child.
      const next = succeeded(await runtime.run('r-2', null));
      assert.equal(next.response, 'from parent');
    });
  });

  test('closing stdin ends the runtime with exit code 0', async () => {
    const runtime = await RuntimeContainer.start(newModule('def main(payload):\n    return payload\n'));
    assert.equal((await runtime.next()).type, 'ready');
    assert.equal(succeeded(await runtime.run('r-1', 1)).response, 1);
    assert.equal(await runtime.close(), 0);
  });
});

describe('calls to the runner (protocol 5)', () => {
  const CALLER = [
    'from pratai_runtime.calls import call, CallError',
    '',
    'def main(payload=None):',
    '    got = call("kv", "get", key=payload)',
    '    try:',
    '        call("kv", "missing", key=payload)',
    '    except CallError as exc:',
    '        return {"got": got, "error": [exc.type, str(exc)]}',
    '    return {"got": got}',
    '',
  ].join('\n');

  test('a call is one call line with the run id and a number; its reply is what call() returns; an error reply raises CallError with its type', async () => {
    await RuntimeContainer.with(newModule(CALLER), async (runtime, ready) => {
      assert.equal(ready.protocol, 5);
      runtime.send({ type: 'run', id: 'r-call', payload: 'k' });
      const first = await runtime.next();
      assert.deepEqual(first, { type: 'call', id: 'r-call', call: 1, service: 'kv', method: 'get', args: { key: 'k' } });
      runtime.send({ type: 'reply', call: 1, result: { value: [1, 'two'] } });
      const second = await runtime.next();
      assert.deepEqual(second, { type: 'call', id: 'r-call', call: 2, service: 'kv', method: 'missing', args: { key: 'k' } });
      runtime.send({ type: 'reply', call: 2, error: { type: 'NoSuchKey', message: 'no key k' } });
      const result = succeeded(await runtime.next() as ResultMessage);
      assert.deepEqual(result.response, { got: { value: [1, 'two'] }, error: ['NoSuchKey', 'NoSuchKey: no key k'] });
    });
  });

  test('a call at import time is refused without reaching the runner, and the function still loads', async () => {
    const module = 'from pratai_runtime.calls import call, CallError\ntry:\n    call("kv", "get")\n    AT_IMPORT = "called"\nexcept CallError as exc:\n    AT_IMPORT = exc.type\n\ndef main(payload=None):\n    return AT_IMPORT\n';
    await RuntimeContainer.with(newModule(module), async (runtime) => {
      assert.equal(succeeded(await runtime.run('r-import', null)).response, 'CallUnavailable');
    });
  });
});
