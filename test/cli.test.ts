/**
 * The `pratai` CLI as a user runs it against a noauth platform: every command, every output
 * format and option, and every failure, read back as stdout, stderr and exit code.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, afterEach, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { FUNCTION_TYPES } from '../common/domain.js';
import { TestCli } from './helpers/cli.js';
import { freePort } from './helpers/processes.js';
import { assertNoLeftoverContainers, leftoverContainers, startTestPlatform, waitFor, type TestPlatform } from './helpers/platform.js';

/** One module for every case: the payload chooses what main does. */
const MODULE = `import logging
import time
logger = logging.getLogger('pratai')

def main(payload=None):
    logger.info('called with %s', payload)
    if payload == 'boom':
        raise ValueError('boom')
    if payload == 'slow':
        time.sleep(60)
    return {'hello': payload}
`;

let platform: TestPlatform;
let cli: TestCli;
/** The folder of the `echo` function: new_module.py and requirements.txt. */
let echoFolder: string;
let echoId: string;

before(async () => {
  platform = await startTestPlatform({ build: { pip_no_index: 'true' } });
  cli = new TestCli({ OS_PRATAI_URL: platform.apiUrl });
  echoFolder = join(cli.home, 'echo');
  mkdirSync(echoFolder);
  writeFileSync(join(echoFolder, 'new_module.py'), MODULE);
  writeFileSync(join(echoFolder, 'requirements.txt'), '');
});
after(async () => {
  cli?.close();
  await platform?.close();
});
afterEach(() => assertNoLeftoverContainers(platform.runnerName));

/** The lines of a table's body: its cells, trimmed. */
const tableRows = (table: string): string[][] =>
  table
    .split('\n')
    .filter((line) => line.startsWith('|'))
    .map((line) => line.slice(1, -1).split('|').map((cell) => cell.trim()));

/** The Field/Value table of a show command, as a map. */
const fieldsOf = (table: string): Map<string, string> => new Map(tableRows(table).slice(1).map(([field, value]) => [field as string, value as string]));

describe('help and version', () => {
  test('pratai help lists every command of the original documentation, and --version names the version', async () => {
    const help = await cli.ok(['help']);
    for (const command of ['secret-create', 'secret-list', 'secret-show', 'secret-update', 'secret-delete']) assert.match(help, new RegExp(`^  ${command} `, 'm'), command);
    for (const command of ['runtime-list', 'function-create', 'function-list', 'function-show', 'function-update', 'function-delete', 'function-execute', 'request-list', 'request-show', 'request-logs', 'request-cancel']) {
      assert.match(help, new RegExp(`^  ${command} `, 'm'), command);
    }
    assert.match(help, /--os-auth-url <url>.*\(env: OS_AUTH_URL\)/);
    assert.match(await cli.ok(['--version']), /^pratai \d+\.\d+\.\d+\n$/);
  });

  test('pratai help COMMAND and COMMAND --help show the options of the command', async () => {
    const help = await cli.ok(['help', 'function-create']);
    assert.equal(await cli.ok(['function-create', '--help']), help);
    for (const option of ['--zip <path>', '--description', '--runtime', '--memory', '--cpus', '--timeout', '--type', '--event', '--public', '--network', '--no-network', '--wait', '-f, --format']) assert.ok(help.includes(option), option);
  });

  test('an unknown command or option is a usage error (exit 2) that suggests the right one', async () => {
    const unknown = await cli.run(['functoin-list']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command 'functoin-list'[\s\S]*Did you mean function-list\?/);
    const option = await cli.run(['function-list', '--bogus']);
    assert.equal(option.code, 2);
    assert.match(option.stderr, /unknown option '--bogus'/);
  });
});

describe('runtimes and functions', () => {
  test('runtime-list shows the python3 runtime and its status', async () => {
    const rows = tableRows(await cli.ok(['runtime-list']));
    assert.deepEqual(rows[0], ['Name', 'Description', 'Image', 'Status']);
    assert.equal(rows[1]?.[0], 'python3');
    assert.equal(rows[1]?.[3], 'available');
  });

  test('function-create --zip FOLDER --wait zips the folder, shows progress on stderr and prints the ready function', async () => {
    const result = await cli.run(['function-create', 'echo', '--zip', echoFolder, '--description', 'says hello', '--memory', '96', '--wait']);
    assert.equal(result.code, 0, result.stderr);
    // stderr is not a terminal here: plain lines, one per status.
    assert.deepEqual(result.stderr.split('\n').filter(Boolean).at(-1), 'Building function echo: ready');
    assert.doesNotMatch(result.stderr, /\r/);
    const shown = fieldsOf(result.stdout);
    assert.match(result.stdout, /^\+-+\+-+\+\n\| Field +\| Value +\|\n/);
    assert.equal(shown.get('name'), 'echo');
    assert.equal(shown.get('status'), 'ready');
    assert.equal(shown.get('memory'), '96');
    assert.equal(shown.get('public'), 'False');
    assert.equal(shown.get('description'), 'says hello');
    assert.equal(shown.get('build_log'), '', "a good build's log is left out of the table");
    echoId = shown.get('function_id') as string;
    assert.match(echoId, /^[0-9a-f]{32}$/);
    assert.equal(shown.get('endpoint'), `${platform.webhookUrl}/function/${echoId}`);
  });

  test('function-create of a zip the server refuses prints the server message in one line', async () => {
    const notZip = join(cli.home, 'not.zip');
    writeFileSync(notZip, 'this is not a zip');
    const line = await cli.fails(['function-create', 'broken', '--zip', notZip]);
    assert.match(line, /^Expected a zip archive.* \(HTTP 400 ZipInvalid\) \(Request-ID: req-[0-9a-f-]+\)$/);
  });

  test('function-create of a folder without new_module.py, or a path that is not there, says so', async () => {
    const empty = join(cli.home, 'empty');
    mkdirSync(empty, { recursive: true });
    assert.match(await cli.fails(['function-create', 'x', '--zip', empty]), /^Cannot zip the folder .*empty: it has no new_module.py/);
    assert.match(await cli.fails(['function-create', 'x', '--zip', join(cli.home, 'nowhere')]), /^Cannot read --zip .*nowhere: no such file or folder$/);
    assert.match(await cli.fails(['function-create', 'x'], { code: 2 }), /required option '--zip <path>' not specified/);
  });

  test("function-create with a setting the server refuses prints the server's reason", async () => {
    assert.match(await cli.fails(['function-create', 'x', '--zip', echoFolder, '--memory', 'lots']), /^Expected `memory` to be an integer from 64 to 4096 \(MiB\), got `"lots"` \(string\) \(HTTP 400 InvalidParameter\)/);
  });

  test('function-create --type passes the type to the server, whose verdict the user reads', async () => {
    const result = await cli.run(['function-create', 'waiter', '--zip', echoFolder, '--type', 'wait_for_response', '-f', 'value', '-c', 'type', '-c', 'function_id']);
    if ((FUNCTION_TYPES as readonly string[]).includes('wait_for_response')) {
      assert.equal(result.code, 0, result.stderr);
      const [id, type] = result.stdout.trim().split('\n');
      assert.equal(type, 'wait_for_response');
      await cli.ok(['function-delete', id as string]);
    } else {
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^Expected `type` to be one of async, got `"wait_for_response"`.*\(HTTP 400 InvalidParameter\)/);
    }
  });

  test('function-create --wait of a function whose requirement cannot be installed shows the build log and fails', async () => {
    const folder = join(cli.home, 'bad-dep');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'new_module.py'), MODULE);
    writeFileSync(join(folder, 'requirements.txt'), 'no-such-package-anywhere==9.9\n');
    const result = await cli.run(['function-create', 'bad-dep', '--zip', folder, '--wait']);
    assert.equal(result.code, 1);
    assert.equal(fieldsOf(result.stdout).get('status'), 'error');
    assert.match(result.stdout, /no-such-package-anywhere/, 'the table shows the build log');
    assert.match(result.stderr, /Building function bad-dep: error\nThe image of function bad-dep \([0-9a-f]{32}\) failed to build; its build_log says why\n$/);
  });

  test('function-list prints ID, Name and Status columns; --only-id -f value prints bare ids', async () => {
    const rows = tableRows(await cli.ok(['function-list']));
    assert.deepEqual(rows[0], ['ID', 'Name', 'Status', 'Runtime', 'Memory', 'Endpoint']);
    assert.deepEqual(new Set(rows.slice(1).map((row) => `${row[1]}:${row[2]}`)), new Set(['echo:ready', 'bad-dep:error']));
    const ids = await cli.ok(['function-list', '--only-id', '-f', 'value']);
    assert.match(ids, /^([0-9a-f]{32}\n){2}$/);
    assert.ok(ids.includes(`${echoId}\n`));
    assert.deepEqual(tableRows(await cli.ok(['function-list', '--long']))[0], ['ID', 'Name', 'Status', 'Runtime', 'Memory', 'CPUs', 'Timeout', 'Public', 'Network', 'Description', 'Created At', 'Endpoint']);
  });

  test('function-list -f json, yaml, csv and value carry the same rows', async () => {
    const json = JSON.parse(await cli.ok(['function-list', '-f', 'json', '--sort-column', 'Name'])) as Record<string, unknown>[];
    assert.deepEqual(json.map((row) => [row.Name, row.Status, row.Memory]), [['bad-dep', 'error', 128], ['echo', 'ready', 96]]);
    assert.deepEqual(parseYaml(await cli.ok(['function-list', '-f', 'yaml', '--sort-column', 'Name'])), json);
    assert.equal(await cli.ok(['function-list', '-f', 'csv', '-c', 'Name', '-c', 'Memory', '--sort-column', 'Name']), '"Name","Memory"\n"bad-dep",128\n"echo",96\n');
    assert.equal(await cli.ok(['function-list', '-f', 'csv', '-c', 'Name', '--quote', 'minimal', '--sort-column', 'Name']), 'Name\nbad-dep\necho\n');
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Name', '-c', 'Status', '--sort-column', 'Name', '--sort-descending']), 'echo ready\nbad-dep error\n');
  });

  test('-c keeps the columns in the order of the data, --noindent prints json on one line, --max-width wraps the table', async () => {
    assert.equal(await cli.ok(['function-list', '-f', 'value', '-c', 'Status', '-c', 'Name', '--sort-column', 'Status']), 'bad-dep error\necho ready\n');
    const compact = await cli.ok(['function-list', '-f', 'json', '--noindent', '-c', 'Name', '--sort-column', 'Name']);
    assert.equal(compact, '[{"Name":"bad-dep"},{"Name":"echo"}]\n');
    const narrow = await cli.ok(['function-list', '--max-width', '70']);
    const lines = narrow.trimEnd().split('\n');
    assert.ok(lines.every((line) => line.length <= 70), narrow);
    assert.ok(lines.length > 6, 'long cells were wrapped onto more lines');
    const wide = await cli.ok(['function-list']);
    assert.ok(wide.split('\n').some((line) => line.length > 70), 'the same table is wider without --max-width');
  });

  test('output options that name no column, or a format that does not exist, are usage errors', async () => {
    assert.match(await cli.fails(['function-list', '-c', 'Nope'], { code: 2 }), /^No recognized column names in `Nope`; recognized columns are ID, Name, Status/);
    assert.match(await cli.fails(['function-list', '--sort-column', 'Nope'], { code: 2 }), /^Cannot sort by `Nope`/);
    assert.match(await cli.fails(['function-list', '-f', 'xml'], { code: 2 }), /option '-f, --format <format>' argument 'xml' is invalid. Allowed choices are table, json, yaml, value, csv/);
  });

  test('function-show takes a name or an id and prints the Field/Value table of the documentation', async () => {
    const byName = await cli.ok(['function-show', 'echo']);
    assert.equal(await cli.ok(['function-show', echoId]), byName);
    assert.deepEqual(
      [...fieldsOf(byName).keys()],
      ['function_id', 'user_id', 'tenant_id', 'name', 'description', 'type', 'event', 'public', 'endpoint', 'runtime', 'memory', 'cpus', 'timeout', 'status', 'build_log', 'created_at', 'updated_at', 'network', 'retries', 'retry_on_error', 'max_concurrency', 'context', 'secrets', 'subscriptions', 'openstack_auth', 'openstack_roles'],
    );
    assert.deepEqual([fieldsOf(byName).get('openstack_auth'), fieldsOf(byName).get('openstack_roles')], ['False', ''], 'no OpenStack identity');
    assert.equal(await cli.ok(['function-show', 'echo', '-f', 'value', '-c', 'endpoint']), `${platform.webhookUrl}/function/${echoId}\n`);
    const json = JSON.parse(await cli.ok(['function-show', 'echo', '-f', 'json']));
    assert.equal(json.public, false);
    assert.equal(json.memory, 96);
    assert.match(json.build_log, /Successfully built/, 'json carries the whole build log');
  });

  test('function-show of an unknown name or id fails with one line', async () => {
    assert.equal(await cli.fails(['function-show', 'nope']), 'No function with a name or ID of `nope` exists');
    assert.match(await cli.fails(['function-show', '0123456789abcdef0123456789abcdef']), /^No function with id `0123456789abcdef0123456789abcdef` in this project \(HTTP 404 FunctionNotFound\) \(Request-ID: req-/);
  });

  test('function-update changes settings by name, and refuses to do nothing', async () => {
    const updated = fieldsOf(await cli.ok(['function-update', 'echo', '--memory', '128', '--timeout', '20', '--description', 'says hello again']));
    assert.deepEqual([updated.get('memory'), updated.get('timeout'), updated.get('description'), updated.get('status')], ['128', '20', 'says hello again', 'ready']);
    assert.match(await cli.fails(['function-update', 'echo'], { code: 2 }), /^Nothing to update: give --zip/);
  });

  test('--network and --no-network send the function\'s network setting, and the server\'s verdict is what the user reads', async () => {
    // This platform's [runner] network is none: the server refuses network, and says why.
    assert.match(await cli.fails(['function-create', 'networked', '--zip', echoFolder, '--network']), /^Expected `network` to be false: .*\[runner\] network = none.* \(HTTP 403 NetworkNotAllowed\)/);
    assert.match(await cli.fails(['function-update', 'echo', '--network']), /\(HTTP 403 NetworkNotAllowed\)/);
    assert.equal(await cli.ok(['function-update', 'echo', '--no-network', '-f', 'value', '-c', 'network']), 'False\n');
    assert.equal(await cli.ok(['function-update', 'echo', '--network', '--no-network', '-f', 'json', '-c', 'network']).then((out) => JSON.parse(out).network), false, 'the last flag given wins');
    assert.equal(await cli.ok(['function-list', '--long', '-f', 'value', '-c', 'Name', '-c', 'Network', '--sort-column', 'Name']), 'bad-dep False\necho False\n');
  });

  test('--openstack-auth, --no-openstack-auth and --openstack-role send the OpenStack identity fields, and the server\'s verdict is what the user reads', async () => {
    // This platform has no Keystone: the server refuses an identity, and says why.
    assert.match(await cli.fails(['function-create', 'identified', '--zip', echoFolder, '--openstack-auth', '--openstack-role', 'reader']), /^Expected `openstack_auth` to be false: .*Keystone.* \(HTTP 400 TrustInvalid\)/);
    assert.match(await cli.fails(['function-update', 'echo', '--openstack-auth']), /\(HTTP 400 TrustInvalid\)/);
    assert.match(await cli.fails(['function-update', 'echo', '--openstack-role', 'bad role!']), /`openstack_roles`.*`"bad role!"`.*\(HTTP 400 InvalidParameter\)/);
    assert.match(await cli.fails(['function-update', 'echo', '--no-openstack-auth', '--openstack-role', 'reader'], { code: 2 }), /--openstack-role.*--no-openstack-auth/);
    const shown = JSON.parse(await cli.ok(['function-update', 'echo', '--openstack-auth', '--no-openstack-auth', '-f', 'json', '-c', 'openstack_auth', '-c', 'openstack_roles']));
    assert.deepEqual(shown, { openstack_auth: false, openstack_roles: [] }, 'the last flag given wins');
    assert.match(await cli.ok(['help', 'function-create']), /--openstack-role <role>/);
  });
});

describe('executing and following requests', () => {
  test('function-execute prints the request id; request-show and request-list follow it', async () => {
    const requestId = (await cli.ok(['function-execute', 'echo', '--payload', '{"key": "value"}', '-f', 'value', '-c', 'request_id'])).trim();
    assert.match(requestId, /^[0-9a-f]{32}$/);
    const logs = await cli.ok(['request-logs', requestId, '--follow']);
    assert.match(logs, /^\S+ INFO \[pratai\] called with \{'key': 'value'\}\n$/);
    const shown = fieldsOf(await cli.ok(['request-show', requestId]));
    assert.equal(shown.get('status'), 'succeeded');
    assert.equal(shown.get('payload'), '{"key":"value"}');
    assert.equal(shown.get('response'), '{"hello":{"key":"value"}}');
    assert.equal(shown.get('error'), 'None');
    assert.match(shown.get('logs') ?? '', /INFO \[pratai\] called with/);
    const json = JSON.parse(await cli.ok(['request-show', requestId, '-f', 'json']));
    assert.deepEqual(json.response, { hello: { key: 'value' } });
    assert.equal(json.logs[0].source, 'pratai');
    assert.equal(await cli.ok(['request-logs', requestId]), logs);
    const listed = tableRows(await cli.ok(['request-list', '--filter', requestId]));
    assert.deepEqual(listed[0], ['ID', 'Function ID', 'Status', 'Source', 'Version', 'Alias', 'Attempts', 'Created At', 'Duration (ms)']);
    assert.deepEqual(listed.slice(1).map((row) => row.slice(0, 7)), [[requestId, echoId, 'succeeded', 'webhook', 'latest', 'None', '1']]);
  });

  test('function-execute --wait prints the outcome and logs, with progress on stderr', async () => {
    const result = await cli.run(['function-execute', 'echo', '--payload', '[1, 2]', '--wait']);
    assert.equal(result.code, 0, result.stderr);
    const shown = fieldsOf(result.stdout);
    assert.equal(shown.get('status'), 'succeeded');
    assert.equal(shown.get('response'), '{"hello":[1,2]}');
    assert.match(result.stderr, /^Request [0-9a-f]{32}: succeeded$/m);
  });

  test('on a terminal, --wait draws a spinner on one line of stderr and leaves one final line', async () => {
    const result = await cli.runOnTerminal(['function-execute', 'echo', '--payload', '1', '--wait', '-f', 'value', '-c', 'status']);
    assert.equal(result.code, 0, result.stdout);
    // Each frame returns to the start of the line and clears it (CR, ESC [2K) before drawing.
    const frames = result.stdout.split('\r\u001b[2K');
    assert.equal(frames[0], '');
    assert.match(frames[1] ?? '', /^[|/\\-] Request [0-9a-f]{32}: \w+ \(\d+s\)$/);
    assert.match(frames.at(-1) ?? '', /^Request [0-9a-f]{32}: succeeded \(\d+s\)\r\nsucceeded\r\n$/);
  });

  test('function-execute takes the payload from --file, or from standard input with --file -', async () => {
    const file = join(cli.home, 'payload.json');
    writeFileSync(file, '{"from": "file"}');
    const fromFile = JSON.parse((await cli.run(['function-execute', echoId, '--file', file, '--wait', '-f', 'json', '-c', 'response'])).stdout);
    assert.deepEqual(fromFile, { response: { hello: { from: 'file' } } });
    const fromStdin = JSON.parse((await cli.run(['function-execute', 'echo', '--file', '-', '--wait', '-f', 'json', '-c', 'response'], { input: '"piped"' })).stdout);
    assert.deepEqual(fromStdin, { response: { hello: 'piped' } });
  });

  test('function-execute with a payload that is not JSON is a usage error naming it', async () => {
    assert.match(await cli.fails(['function-execute', 'echo', '--payload', '{key: value}'], { code: 2 }), /^Expected the payload in --payload to be JSON, got "\{key: value\}": /);
    assert.match(await cli.fails(['function-execute', 'echo', '--payload', '1', '--file', 'x'], { code: 2 }), /^Give --payload or --file, not both$/);
  });

  test('function-execute --wait of a request that fails prints its error and exits 1 with the reason', async () => {
    const result = await cli.run(['function-execute', 'echo', '--payload', '"boom"', '--wait']);
    assert.equal(result.code, 1);
    const shown = fieldsOf(result.stdout);
    assert.equal(shown.get('status'), 'failed');
    assert.match(result.stdout, /ValueError: boom/);
    assert.match(result.stderr, /\nRequest [0-9a-f]{32} ended failed: ValueError: boom\n$/);
  });

  test('request-cancel cancels a running request; cancelling it again says it is finished', async () => {
    const requestId = (await cli.ok(['function-execute', 'echo', '--payload', '"slow"', '-f', 'value', '-c', 'request_id'])).trim();
    const cancelled = fieldsOf(await cli.ok(['request-cancel', requestId]));
    assert.equal(cancelled.get('status'), 'cancelled');
    assert.match(await cli.fails(['request-cancel', requestId]), /^Request `[0-9a-f]{32}` is cancelled already.*\(HTTP 409 RequestAlreadyFinished\)/);
    await cli.ok(['request-logs', requestId, '--follow']);
    // Its runner kills its container: wait for that before afterEach counts what is left.
    await waitFor('the cancelled container to be removed', async () => (leftoverContainers(platform.runnerName).length === 0 ? true : undefined));
  });

  test('request-list filters by function name, status and limit', async () => {
    const failed = tableRows(await cli.ok(['request-list', '--function', 'echo', '--status', 'failed']));
    assert.deepEqual(failed.slice(1).map((row) => row[2]), ['failed']);
    const newest = await cli.ok(['request-list', '--function', 'echo', '--limit', '2', '-f', 'value', '-c', 'ID']);
    assert.equal(newest.trim().split('\n').length, 2);
    const all = await cli.ok(['request-list', '--function', echoId, '-f', 'value', '-c', 'ID']);
    assert.ok(all.startsWith(newest), 'newest first');
    assert.ok(all.trim().split('\n').length >= 5);
    assert.equal(await cli.ok(['request-list', '--function', 'bad-dep']), '', 'an empty table prints nothing');
    assert.match(await cli.ok(['request-list', '--function', 'bad-dep', '--print-empty']), /\| ID +\| Function ID +\|/);
    assert.match(await cli.fails(['request-list', '--limit', '0'], { code: 2 }), /^Expected --limit to be a positive integer, got `0`$/);
  });

  test('--retries, --retry-on-error and --max-concurrency set retries and the limit; a dead letter is listed with --dead-letter and redriven', async () => {
    const created = JSON.parse(await cli.ok(['function-create', 'flaky', '--zip', echoFolder, '--retries', '1', '--retry-on-error', '--max-concurrency', '3', '-f', 'json']));
    assert.deepEqual([created.retries, created.retry_on_error, created.max_concurrency], [1, true, 3]);
    assert.match(await cli.fails(['function-update', 'flaky', '--retries', '11']), /`retries`.*\(HTTP 400 InvalidParameter\)/);
    try {
      // Raises every time: the first attempt and one retry, then it is a dead letter.
      const requestId = (await cli.ok(['function-execute', 'flaky', '--payload', '"boom"', '-f', 'value', '-c', 'request_id'])).trim();
      const dead = async (): Promise<true | undefined> => (JSON.parse(await cli.ok(['request-show', requestId, '-f', 'json'])).dead_letter === true ? true : undefined);
      await waitFor('the request to be dead-lettered', dead);
      const shown = fieldsOf(await cli.ok(['request-show', requestId]));
      assert.deepEqual([shown.get('status'), shown.get('attempts'), shown.get('dead_letter')], ['failed', '2', 'True']);
      assert.equal(await cli.ok(['request-list', '--function', 'flaky', '--dead-letter', '-f', 'value', '-c', 'ID']), `${requestId}\n`);

      const updated = JSON.parse(await cli.ok(['function-update', 'flaky', '--no-retry-on-error', '--retries', '0', '--max-concurrency', '0', '-f', 'json']));
      assert.deepEqual([updated.retries, updated.retry_on_error, updated.max_concurrency], [0, false, 0]);
      const redriven = fieldsOf(await cli.ok(['request-redrive', requestId]));
      assert.deepEqual([redriven.get('status'), redriven.get('dead_letter'), redriven.get('attempts')], ['queued', 'False', '0']);
      await cli.ok(['request-logs', requestId, '--follow']);
      assert.equal(JSON.parse(await cli.ok(['request-show', requestId, '-f', 'json'])).attempts, 1, 'run once more, without retries now');
      assert.match(await cli.fails(['request-redrive', requestId]), /\(HTTP 409 RequestNotDeadLettered\)/);
    } finally {
      await cli.ok(['function-delete', 'flaky']);
    }
  });

  test('request-show of an unknown request fails with one line', async () => {
    assert.match(await cli.fails(['request-show', '0123456789abcdef0123456789abcdef']), /^No request with id `0123456789abcdef0123456789abcdef` in this project \(HTTP 404 RequestNotFound\)/);
  });
});

describe('deleting and failing', () => {
  test('function-update --zip --wait rebuilds the code', async () => {
    writeFileSync(join(echoFolder, 'new_module.py'), "def main(payload=None):\n    return 'v2'\n");
    const result = await cli.run(['function-update', 'echo', '--zip', echoFolder, '--wait', '-f', 'value', '-c', 'status']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, 'ready\n');
    assert.match(result.stderr, /Building function echo: ready\n$/);
    const response = await cli.run(['function-execute', 'echo', '--wait', '-f', 'value', '-c', 'response']);
    assert.equal(response.stdout, 'v2\n');
  });

  test('function-delete deletes by name or id; the ones it cannot find are named and it exits 1', async () => {
    const result = await cli.run(['function-delete', 'echo', 'nope']);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, '');
    assert.equal(result.stderr, 'Failed to delete function nope: No function with a name or ID of `nope` exists\n1 of 2 functions failed to delete\n');
    await cli.ok(['function-delete', 'bad-dep']);
    assert.equal(await cli.ok(['function-list']), '');
    assert.match(await cli.fails(['function-delete', 'echo']), /^No function with a name or ID of `echo` exists$/);
  });

  test('an unreachable endpoint fails with one line naming it', async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    assert.equal(await cli.fails(['function-list'], { env: { OS_PRATAI_URL: closed } }), `Unable to establish connection to ${closed}: connect ECONNREFUSED ${closed.slice(7)}`);
  });

  test('--debug shows each HTTP call on stderr, and a failure with its stack', async () => {
    const result = await cli.run(['--debug', 'function-list']);
    assert.equal(result.code, 0);
    assert.match(result.stderr, /^REQ: GET http:\/\/127\.0\.0\.1:\d+\/v1\/functions\nRESP: 200 OK \(req-/);
    const failed = await cli.run(['function-list', '--debug'], { env: { OS_PRATAI_URL: `http://127.0.0.1:${await freePort()}` } });
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /Unable to establish connection[\s\S]*\n\s+at /);
  });
});

describe('the README', () => {
  test('the walkthrough of "Your first function" runs as written, every command of it succeeding', async () => {
    const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## Your first function'), readme.indexOf('\n## ', readme.indexOf('## Your first function') + 3));
    const script = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(script !== undefined, 'the section has a sh block');
    const scriptFile = join(cli.home, 'walkthrough.sh');
    writeFileSync(scriptFile, script);
    const scratch = join(cli.home, 'scratch');
    mkdirSync(scratch);
    // As a user's shell runs it: in the repository's folder, aliases on, stopping at the first failure.
    const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['-O', 'expand_aliases', '-e', scriptFile], { cwd: join(import.meta.dirname, '..'), env: { ...process.env, OS_PRATAI_URL: platform.apiUrl, TMPDIR: scratch, HOME: cli.home }, encoding: 'utf8' }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : (error.code as number), stdout, stderr }),
      );
    });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\| python3 +\|/, 'runtime-list');
    assert.match(run.stdout, /\| status +\| ready +\|/, 'function-create --wait');
    assert.match(run.stdout, /\| hello +\| ready +\|/, 'function-list');
    assert.match(run.stdout, /\| [0-9a-f]{32} \| [0-9a-f]{32} \| (queued|running|succeeded) +\|/, 'request-list');
    assert.match(run.stdout, /INFO \[pratai\] called with \{'key': 'value'\}\n/, 'request-logs');
    assert.match(run.stdout, /\| response +\| \{"hello":\{"key":"value"\}\} +\|/, 'request-show and function-execute --wait');
    assert.match(run.stdout, /\{"request_id":"[0-9a-f]{32}"\}/, 'curl');
    const notProgress = run.stderr.split('\n').filter((line) => line !== '' && !/^(Building function [\w-]+|Request [0-9a-f]{32}): /.test(line));
    assert.deepEqual(notProgress, [], 'only progress lines on stderr');
    assert.equal(await cli.ok(['function-list', '-f', 'value']), '', 'function-delete');
  });
});

describe('secrets and context', () => {
  const value = `cli-secret-${randomBytes(8).toString('hex')}`;
  /** Every output of these tests: none may show the value. */
  const outputs: string[] = [];
  const ok = async (args: string[], options: Parameters<TestCli['ok']>[1] = {}): Promise<string> => {
    const out = await cli.ok(args, options);
    outputs.push(out);
    return out;
  };
  const fails = async (args: string[], options: Parameters<TestCli['fails']>[1] = {}): Promise<string> => {
    const line = await cli.fails(args, options);
    outputs.push(line);
    return line;
  };
  after(() => {
    for (const out of outputs) assert.ok(!out.includes(value), `an output shows the value: ${out}`);
  });

  test('secret-create, secret-list, secret-show, secret-update and secret-delete manage secrets, never printing a value', async () => {
    const file = join(cli.home, 'secret.txt');
    writeFileSync(file, `${value}-from-file\n`);
    const created = fieldsOf(await ok(['secret-create', 'db_password', '--value', value]));
    assert.deepEqual([...created.keys()], ['name', 'version', 'functions', 'created_at', 'updated_at']);
    assert.deepEqual([created.get('name'), created.get('version'), created.get('functions')], ['db_password', '1', '']);
    assert.equal(JSON.parse(await ok(['secret-create', 'from_file', '--from-file', file, '-f', 'json'])).name, 'from_file');
    assert.equal(await ok(['secret-create', 'from_stdin', '--from-file', '-', '-f', 'value', '-c', 'version'], { input: value }), '1\n');
    const rows = tableRows(await ok(['secret-list']));
    assert.deepEqual(rows[0], ['Name', 'Version', 'Functions', 'Created At', 'Updated At']);
    assert.deepEqual(rows.slice(1).map((row) => row[0]), ['db_password', 'from_file', 'from_stdin']);
    assert.equal(await ok(['secret-update', 'db_password', '--from-file', file, '-f', 'value', '-c', 'version']), '2\n');
    assert.equal(await ok(['secret-show', 'db_password', '-f', 'value', '-c', 'version']), '2\n');
    assert.match(await fails(['secret-create', 'db_password', '--value', value]), /^A secret named `db_password` exists already.*\(HTTP 409 SecretExists\)/);
    assert.match(await fails(['secret-create', 'x'], { code: 2 }), /^Give the value with --value VALUE or --from-file PATH/);
    assert.match(await fails(['secret-create', 'x', '--value', 'a', '--from-file', file], { code: 2 }), /^Give --value or --from-file, not both$/);
    assert.match(await fails(['secret-create', 'x', '--from-file', join(cli.home, 'nowhere')]), /^Cannot read --from-file .*nowhere: no such file$/);
    assert.match(await fails(['secret-show', 'nope']), /^No secret named `nope` in this project \(HTTP 404 SecretNotFound\)/);
    await ok(['secret-delete', 'from_file', 'from_stdin']);
    assert.equal(await ok(['secret-list', '-f', 'value', '-c', 'Name']), 'db_password\n');
  });

  test('function-create and function-update give a function a context (file and KEY=VALUE) and secrets; a secret in use is not deleted', async () => {
    const contextFile = join(cli.home, 'context.env');
    writeFileSync(contextFile, '# as FaaSpot writes them\nREGION = "eu-1"\nMODE=prod\n');
    const created = JSON.parse(await ok(['function-create', 'with-secrets', '--zip', echoFolder, '--context-file', contextFile, '--context', 'MODE=test', '--context', 'EXTRA=a=b', '--secret', 'db_password', '-f', 'json']));
    assert.deepEqual([created.context, created.secrets], [{ REGION: 'eu-1', MODE: 'test', EXTRA: 'a=b' }, ['db_password']]);
    const shown = fieldsOf(await ok(['function-show', 'with-secrets']));
    assert.deepEqual([shown.get('context'), shown.get('secrets')], ['{"REGION":"eu-1","MODE":"test","EXTRA":"a=b"}', 'db_password']);
    assert.equal(await ok(['secret-show', 'db_password', '-f', 'value', '-c', 'functions']), `with-secrets (${created.function_id})\n`);
    assert.match(await fails(['secret-delete', 'db_password']), /^Secret `db_password` is given to function `with-secrets` .*\(HTTP 409 SecretInUse\)/);

    assert.deepEqual(JSON.parse(await ok(['function-update', 'with-secrets', '--context-file', contextFile, '-f', 'json', '-c', 'context'])), { context: { REGION: 'eu-1', MODE: 'prod' } });
    writeFileSync(contextFile, 'GOOD=1\nnot a setting\n');
    assert.match(await fails(['function-update', 'with-secrets', '--context-file', contextFile]), /^Line 2 of the context file has no `=`.*\(HTTP 400 InvalidParameter\)/);
    assert.match(await fails(['function-update', 'with-secrets', '--context-file', contextFile, '--context', 'A=1'], { code: 2 }), /^Line 2 of the context file has no `=`.* \(--context-file .*context\.env\)$/);
    assert.match(await fails(['function-update', 'with-secrets', '--context', 'novalue'], { code: 2 }), /^Expected --context KEY=VALUE, got `novalue`$/);
    assert.match(await fails(['function-update', 'with-secrets', '--secret', 'db_password', '--secret', 'nope']), /`nope`.*\(HTTP 400 UnknownSecret\)/);
    assert.deepEqual(JSON.parse(await ok(['function-show', 'with-secrets', '-f', 'json', '-c', 'secrets'])), { secrets: ['db_password'] }, 'unchanged');
    await ok(['function-delete', 'with-secrets']);
    await ok(['secret-delete', 'db_password']);
    assert.equal(await ok(['secret-list']), '');
  });
});

describe('versions and aliases', () => {
  test('function-publish, function-version-*, alias-* and function-execute --version/--alias publish, route and roll back', async () => {
    const ok = (args: string[]): Promise<string> => cli.ok(args);
    const fails = (args: string[], options: { code?: number } = {}): Promise<string> => cli.fails(args, options);
    /** A --wait command: its progress goes to stderr. */
    const waited = async (args: string[]): Promise<string> => {
      const result = await cli.run(args);
      assert.equal(result.code, 0, result.stderr);
      return result.stdout;
    };
    assert.equal((await cli.run(['function-create', 'released', '--zip', echoFolder, '--wait'])).code, 0);
    const first = fieldsOf(await ok(['function-publish', 'released', '--description', 'first']));
    assert.deepEqual([first.get('version'), first.get('description'), first.get('memory')], ['1', 'first', '128']);
    assert.equal(await ok(['function-publish', 'released', '-f', 'value', '-c', 'version']), '1\n', 'unchanged: the same version');
    await ok(['function-update', 'released', '--memory', '256']);
    assert.equal(await ok(['function-publish', 'released', '-f', 'value', '-c', 'version']), '2\n');
    const versions = tableRows(await ok(['function-version-list', 'released']));
    assert.deepEqual(versions[0], ['Version', 'Description', 'Memory', 'Timeout', 'Code SHA256', 'Created At']);
    assert.deepEqual(versions.slice(1).map((row) => [row[0], row[2]]), [['1', '128'], ['2', '256']]);
    assert.equal(await ok(['function-version-show', 'released', '2', '-f', 'value', '-c', 'memory']), '256\n');

    const alias = JSON.parse(await ok(['alias-create', 'released', 'prod', '--version', '1', '--weight', '2=0.25', '-f', 'json']));
    assert.deepEqual([alias.name, alias.version, alias.weights], ['prod', 1, { '2': 0.25 }]);
    assert.match(alias.endpoint, /\/function\/[0-9a-f]{32}\/aliases\/prod$/);
    assert.equal(await ok(['alias-list', 'released', '-f', 'value', '-c', 'Name', '-c', 'Weights']), 'prod 2=0.25\n');
    assert.equal(await ok(['alias-update', 'released', 'prod', '--version', '2', '--no-weights', '-f', 'value', '-c', 'version', '-c', 'weights']), '2\n\n');
    assert.equal(await ok(['alias-show', 'released', 'prod', '-f', 'value', '-c', 'version']), '2\n');

    const viaAlias = JSON.parse(await waited(['function-execute', 'released', '--alias', 'prod', '--payload', '"x"', '--wait', '-f', 'json']));
    assert.deepEqual([viaAlias.status, viaAlias.version, viaAlias.alias], ['succeeded', 2, 'prod']);
    const viaVersion = JSON.parse(await waited(['function-execute', 'released', '--version', '1', '--wait', '-f', 'json']));
    assert.deepEqual([viaVersion.status, viaVersion.version, viaVersion.alias], ['succeeded', 1, null]);
    assert.equal(await ok(['request-list', '--function', 'released', '--alias', 'prod', '-f', 'value', '-c', 'ID']), `${viaAlias.request_id}\n`);
    assert.equal(await ok(['request-list', '--function', 'released', '--version', '1', '-f', 'value', '-c', 'ID']), `${viaVersion.request_id}\n`);

    assert.match(await fails(['function-version-delete', 'released', '2']), /^Version 2 is targeted by alias `prod`.*\(HTTP 409 VersionInUse\)/);
    assert.match(await fails(['alias-create', 'released', 'latest', '--version', '1']), /`latest`.*\(HTTP 400 InvalidParameter\)/);
    assert.match(await fails(['alias-create', 'released', 'x', '--version', '0'], { code: 2 }), /^Expected --version to be a version number/);
    assert.match(await fails(['alias-create', 'released', 'x', '--version', '1', '--weight', 'two'], { code: 2 }), /^Expected --weight as VERSION=SHARE/);
    assert.match(await fails(['function-execute', 'released', '--version', '1', '--alias', 'prod'], { code: 2 }), /^Give --version or --alias, not both$/);
    assert.match(await fails(['function-list', '--version', '2'], { code: 2 }), /function-list has no option --version/);
    assert.match(await cli.ok(['--version']), /^pratai \d+\.\d+\.\d+\n$/);

    // A job on the alias, one on version 1 (FUNCTION:N), and a subscription on the alias.
    const onAlias = JSON.parse(await ok(['job-create', 'released', '--alias', 'prod', '--pattern', '0 0 1 1 *', '-f', 'json']));
    assert.equal(onAlias.qualifier, 'prod');
    const onOne = (await ok(['job-create', 'released:1', '--pattern', '0 0 1 1 *', '-f', 'value', '-c', 'job_id'])).trim();
    assert.equal(await ok(['job-show', onOne, '-f', 'value', '-c', 'qualifier']), '1\n');
    const functionId = (await ok(['function-show', 'released', '-f', 'value', '-c', 'function_id'])).trim();
    assert.deepEqual((await ok(['job-list', '--function', 'released', '-f', 'value', '-c', 'Function ID'])).trim().split('\n').sort(), [`${functionId}:1`, `${functionId}:prod`]);
    assert.match(await fails(['job-create', 'released:1', '--alias', 'prod', '--pattern', '0 0 1 1 *'], { code: 2 }), /^Name one version or alias/);
    assert.match(await fails(['job-create', 'released', '--alias', 'nope', '--pattern', '0 0 1 1 *']), /no alias `nope`.*\(HTTP 404 AliasNotFound\)/);
    await ok(['event-create', 'released.event']);
    await ok(['function-update', 'released', '--subscribe-to', 'released.event:prod']);
    await ok(['function-update', 'released', '--subscribe-node', '/released']);
    assert.equal(await ok(['function-show', 'released', '-f', 'value', '-c', 'subscriptions']), 'released.event:prod, /released\n', 'a node subscription added beside the qualified event, which it keeps');
    assert.equal(await ok(['event-list', '-f', 'value', '-c', 'Functions']), 'released:prod\n');
    assert.match(await fails(['alias-delete', 'released', 'prod']), new RegExp(`^Alias \`prod\` is run by job \`${onAlias.job_id}\`, its subscription to event \`released\\.event\`.*\\(HTTP 409 AliasInUse\\)`));
    assert.match(await fails(['function-version-delete', 'released', '1']), new RegExp(`job \`${onOne}\`.*\\(HTTP 409 VersionInUse\\)`));
    await ok(['job-delete', onAlias.job_id, onOne]);
    await ok(['function-update', 'released', '--subscribe-to', '']);
    assert.equal(await ok(['function-show', 'released', '-f', 'value', '-c', 'subscriptions']), '/released\n', 'the events gone, the node kept');
    await ok(['event-delete', 'released.event']);
    await ok(['alias-delete', 'released', 'prod']);
    await ok(['function-version-delete', 'released', '2']);
    assert.equal(await ok(['function-version-list', 'released', '-f', 'value', '-c', 'Version']), '1\n');
    await ok(['function-delete', 'released']);
  });
});
