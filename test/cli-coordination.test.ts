/**
 * The coordination commands of the `pratai` CLI against a real noauth platform (its embedded
 * SQLite store): nodes created, read, set, listed and deleted with their ZooKeeper errors; an
 * ephemeral node held until Ctrl-C; watches printed as their events happen. The commands that
 * hold a session run in the background and are read line by line, as a user at a shell.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { CLI_MAIN, TestCli } from './helpers/cli.js';
import { call, startTestPlatform, type TestPlatform } from './helpers/platform.js';

let platform: TestPlatform;
let cli: TestCli;

before(async () => {
  platform = await startTestPlatform();
  cli = new TestCli({ OS_PRATAI_URL: platform.apiUrl });
});
after(async () => {
  cli?.close();
  await platform?.close();
});

let n = 0;
const root = (): string => `/cli${process.pid}x${(n += 1)}`;

/** The Field/Value table of a show command, as a map. */
const fieldsOf = (table: string): Map<string, string> =>
  new Map(
    table
      .split('\n')
      .filter((line) => line.startsWith('|'))
      .slice(1)
      .map((line) => line.slice(1, -1).split('|').map((cell) => cell.trim()) as [string, string]),
  );

/** A CLI command left running, its output read as it comes. */
class Background {
  readonly child: ChildProcessWithoutNullStreams;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly waiters: (() => void)[] = [];

  constructor(args: string[]) {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(OS_|CLIFF_|XDG_CONFIG_HOME$|NODE_OPTIONS$)/.test(name)));
    this.child = spawn(process.execPath, [CLI_MAIN, ...args], { env: { ...inherited, HOME: cli.home, OS_PRATAI_URL: platform.apiUrl }, cwd: cli.home });
    this.child.stdout.setEncoding('utf8').on('data', (text: string) => this.grew(() => (this.stdout += text)));
    this.child.stderr.setEncoding('utf8').on('data', (text: string) => this.grew(() => (this.stderr += text)));
    this.exited = new Promise((resolve) => this.child.on('close', (code) => resolve(code)));
    this.child.stdin.end();
  }

  private grew(append: () => void): void {
    append();
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Waits until `stream` holds at least `lines` lines, failing if the command exits first. */
  async lines(stream: 'stdout' | 'stderr', lines: number): Promise<string[]> {
    const split = (): string[] => this[stream].split('\n').slice(0, -1);
    let exited = false;
    void this.exited.then(() => {
      exited = true;
      for (const wake of this.waiters.splice(0)) wake();
    });
    while (split().length < lines) {
      assert.ok(!exited, `the command exited before writing ${lines} lines on ${stream}: stdout ${this.stdout}; stderr ${this.stderr}`);
      await new Promise<void>((wake) => this.waiters.push(wake));
    }
    return split();
  }
}

describe('node commands', () => {
  test('node-create prints the path, node-get shows data and stat, node-set and node-delete check versions, node-list lists children', async () => {
    const r = root();
    assert.equal(await cli.ok(['node-create', r]), `${r}\n`);
    assert.equal(await cli.ok(['node-create', `${r}/config`, '--data', 'hello']), `${r}/config\n`);
    const first = await cli.ok(['node-create', `${r}/item-`, '--sequential']);
    const second = await cli.ok(['node-create', `${r}/item-`, '--sequential']);
    assert.match(first, new RegExp(`^${r}/item-\\d{10}\\n$`));
    assert.ok(second.trimEnd() > first.trimEnd(), `${second} follows ${first}`);

    const shown = fieldsOf(await cli.ok(['node-get', `${r}/config`]));
    assert.equal(shown.get('path'), `${r}/config`);
    assert.equal(shown.get('data'), 'hello');
    assert.equal(shown.get('version'), '0');
    assert.equal(shown.get('ephemeral_owner'), 'None');
    assert.equal(shown.get('data_length'), '5');
    assert.match(shown.get('ctime') ?? '', /^\d{4}-\d\d-\d\dT/);
    assert.equal(await cli.ok(['node-get', `${r}/config`, '-f', 'value', '-c', 'data']), 'hello\n');

    const set = JSON.parse(await cli.ok(['node-set', `${r}/config`, '--data', 'world', '--version', '0', '-f', 'json'])) as Record<string, unknown>;
    assert.equal(set.data, 'world');
    assert.equal(set.version, 1);
    assert.match(await cli.fails(['node-set', `${r}/config`, '--data', 'late', '--version', '0']), /version 0, got version 1 .*\(HTTP 409 BadVersion\)/);
    assert.equal(await cli.ok(['node-get', `${r}/config`, '-f', 'value', '-c', 'data']), 'world\n');

    assert.deepEqual(JSON.parse(await cli.ok(['node-list', r, '-f', 'json'])), [{ Name: 'config' }, { Name: first.trimEnd().slice(r.length + 1) }, { Name: second.trimEnd().slice(r.length + 1) }]);
    assert.equal(fieldsOf(await cli.ok(['node-get', r])).get('num_children'), '3');

    assert.match(await cli.fails(['node-delete', r]), /\(HTTP 409 NotEmpty\)/);
    assert.match(await cli.fails(['node-delete', `${r}/config`, '--version', '0']), /\(HTTP 409 BadVersion\)/);
    assert.equal(await cli.ok(['node-delete', `${r}/config`, '--version', '1']), '');
    assert.match(await cli.fails(['node-get', `${r}/config`]), /\(HTTP 404 NoNode\)/);
    assert.match(await cli.fails(['node-create', `${r}/config/under/missing`]), /\(HTTP 404 NoNode\)/);
    assert.match(await cli.fails(['node-create', r]), /\(HTTP 409 NodeExists\)/);
  });

  test('a bad --version or --count is a usage error (exit 2), a relative or dotted path too; another path ZooKeeper would refuse is the server\'s BadArguments', async () => {
    assert.match(await cli.fails(['node-set', '/x', '--data', 'd', '--version', 'two'], { code: 2 }), /^Expected --version to be the node's version .*got "two"$/);
    assert.match(await cli.fails(['node-watch', '/x', '--count', '0'], { code: 2 }), /^Expected --count to be a positive integer, got "0"$/);
    assert.match(await cli.fails(['node-create', 'relative'], { code: 2 }), /^Expected an absolute node path \(starting with \/\), got "relative"$/);
    assert.match(await cli.fails(['node-delete', '/a/../b'], { code: 2 }), /^Expected a node path without \. or \.\. names, got "\/a\/\.\.\/b"$/);
    assert.match(await cli.fails(['node-get', '/a//b']), /\(HTTP 400 BadArguments\)/);
  });
});

describe('commands that hold a session', () => {
  test('node-create --ephemeral holds its node until Ctrl-C, which closes the session and deletes it', async () => {
    const r = root();
    await cli.ok(['node-create', r]);
    const held = new Background(['node-create', `${r}/member-`, '--ephemeral', '--sequential']);
    const [path] = await held.lines('stdout', 1);
    assert.match(path ?? '', new RegExp(`^${r}/member-\\d{10}$`));
    await held.lines('stderr', 1);
    assert.match(held.stderr, /^Holding ephemeral node .* in session [0-9a-f]{32}: Ctrl-C deletes it\n$/);
    const owner = fieldsOf(await cli.ok(['node-get', path as string])).get('ephemeral_owner');
    assert.match(owner ?? '', /^[0-9a-f]{32}$/);
    const session = await call(`${platform.apiUrl}/v1/coordination/sessions/${owner}`);
    assert.equal(session.status, 200, 'its session is open');

    held.child.kill('SIGINT');
    assert.equal(await held.exited, 0, held.stderr);
    assert.match(await cli.fails(['node-get', path as string]), /\(HTTP 404 NoNode\)/);
    assert.equal((await call(`${platform.apiUrl}/v1/coordination/sessions/${owner}`)).status, 410, 'its session is closed');
  });

  test('node-watch prints each event of a node that need not exist yet, setting its watch again, and stops after --count', async () => {
    const r = root();
    await cli.ok(['node-create', r]);
    const watch = new Background(['node-watch', `${r}/w`, '--count', '3']);
    const [ready] = await watch.lines('stderr', 1);
    assert.match(ready ?? '', new RegExp(`^Watching ${r}/w in session [0-9a-f]{32} for 3 events: Ctrl-C stops$`));
    await cli.ok(['node-create', `${r}/w`, '--data', 'a']);
    assert.deepEqual(await watch.lines('stdout', 1), [`NodeCreated ${r}/w`]);
    await cli.ok(['node-set', `${r}/w`, '--data', 'b']);
    assert.deepEqual(await watch.lines('stdout', 2), [`NodeCreated ${r}/w`, `NodeDataChanged ${r}/w`]);
    await cli.ok(['node-delete', `${r}/w`]);
    assert.equal(await watch.exited, 0, watch.stderr);
    assert.equal(watch.stdout, `NodeCreated ${r}/w\nNodeDataChanged ${r}/w\nNodeDeleted ${r}/w\n`);
  });

  test('node-watch --children --json prints children events as JSON until Ctrl-C; the children of a missing node are NoNode', async () => {
    const r = root();
    await cli.ok(['node-create', r]);
    const watch = new Background(['node-watch', r, '--children', '--json']);
    assert.match((await watch.lines('stderr', 1))[0] ?? '', new RegExp(`^Watching the children of ${r} in session [0-9a-f]{32}: Ctrl-C stops$`));
    await cli.ok(['node-create', `${r}/a`]);
    const [first] = await watch.lines('stdout', 1);
    await cli.ok(['node-create', `${r}/b`]);
    const [, second] = await watch.lines('stdout', 2);
    for (const line of [first, second]) {
      const event = JSON.parse(line as string) as Record<string, unknown>;
      assert.equal(event.type, 'NodeChildrenChanged');
      assert.equal(event.path, r);
      assert.equal(event.watch, 'child');
      assert.equal(typeof event.zxid, 'number');
    }
    watch.child.kill('SIGINT');
    assert.equal(await watch.exited, 0, watch.stderr);

    assert.match(await cli.fails(['node-watch', `${r}/missing`, '--children']), /\(HTTP 404 NoNode\)/);
  });
});
