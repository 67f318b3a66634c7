/**
 * Workflows for the tests: a workflow shaped like FaaSr's own integration test (four inputs put,
 * two actions in parallel reading, deleting and writing files, a join checking them, a True/False
 * chain whose untaken branches never start, a rank of 5 each writing its file, a final join
 * checking them, and a join after a skipped branch), over any data store; and the API calls.
 */
import assert from 'node:assert/strict';
import type { Platform } from '../../server/platform.js';
import { call, waitFor, zipOf, type Json } from './platform.js';

export const INTEGRATION_CODE: Record<string, string> = {
  // Uses FaaSr's API through FaaSr_py's stubs, as FaaSr functions do.
  'create_input.py': [
    'from FaaSr_py.client.py_client_stubs import faasr_put_file, faasr_log, faasr_invocation_id',
    '',
    'def create_input(folder, names):',
    '    for name in names:',
    '        with open(name, "w") as out:',
    '            out.write("content of " + name)',
    '        faasr_put_file(local_file=name, remote_folder=folder, remote_file=name)',
    '    faasr_log("put %d inputs for %s" % (len(names), faasr_invocation_id()))',
    '',
  ].join('\n'),
  // No import at all: FaaSr puts its API into the function's globals, and so does Pratai.
  'parallel.py': [
    'from helpers.text import shout',
    '',
    'def read_delete_write(folder, first, second, output):',
    '    faasr_get_file(local_file="a.txt", remote_folder=folder, remote_file=first)',
    '    faasr_get_file(local_file="b.txt", remote_folder=folder, remote_file=second)',
    '    text = open("a.txt").read() + "+" + open("b.txt").read()',
    '    faasr_delete_file(remote_folder=folder, remote_file=first)',
    '    with open("out.txt", "w") as out:',
    '        out.write(shout(text))',
    '    faasr_put_file(local_file="out.txt", remote_folder=folder + "//", remote_file=output)',
    '',
  ].join('\n'),
  'helpers/__init__.py': '',
  'helpers/text.py': 'def shout(text):\n    return text.upper()\n',
  'checks.py': [
    'from FaaSr_py.client.py_client_stubs import faasr_get_folder_list, faasr_get_file, faasr_rank, faasr_return',
    '',
    'def check_outputs(folder, expected, absent):',
    '    keys = faasr_get_folder_list(prefix=folder)',
    '    for name in expected:',
    '        if folder + "/" + name not in keys:',
    '            raise AssertionError("missing %s in %s" % (name, keys))',
    '    for name in absent:',
    '        if folder + "/" + name in keys:',
    '            raise AssertionError("%s should be deleted: %s" % (name, keys))',
    '    faasr_get_file(local_file="o.txt", remote_folder=folder, remote_file=expected[0])',
    '    assert open("o.txt").read() == "CONTENT OF INPUT1.TXT+CONTENT OF INPUT2.TXT", open("o.txt").read()',
    '    return True',
    '',
    'def answer(value):',
    '    faasr_return(value)',
    '    raise AssertionError("faasr_return ends the function")',
    '',
    'def write_rank(folder):',
    '    rank = faasr_rank()',
    '    name = "rank%d-of-%d.txt" % (rank["rank"], rank["max_rank"])',
    '    with open(name, "w") as out:',
    '        out.write(str(rank["rank"]))',
    '    faasr_put_file(local_file=name, remote_folder=folder, remote_file=name)',
    '',
    'def check_ranks(folder, count):',
    '    keys = faasr_get_folder_list(prefix=folder + "/rank")',
    '    expected = [folder + "/rank%d-of-%d.txt" % (i, count) for i in range(1, count + 1)]',
    '    assert sorted(keys) == sorted(expected), keys',
    '    return True',
    '',
    'def never(**kwargs):',
    '    raise AssertionError("an untaken branch ran")',
    '',
  ].join('\n'),
};

/** The document: `store` is the DataStores entry every action uses. */
export function integrationDocument(name: string, store: Record<string, unknown>, folder: string): Record<string, unknown> {
  const action = (functionName: string, args: Record<string, unknown>, next: unknown[] = []): Record<string, unknown> => ({ FunctionName: functionName, FaaSServer: 'My_GitHub_Account', Type: 'Python', Arguments: args, InvokeNext: next });
  return {
    WorkflowName: name,
    FunctionInvoke: 'start',
    DefaultDataStore: 'S3',
    FaaSrLog: 'FaaSrLog',
    ComputeServers: { My_GitHub_Account: { FaaSType: 'GitHubActions', UserName: 'someone', ActionRepoName: 'repo', Branch: 'main' } },
    DataStores: { S3: store },
    ActionList: {
      start: action('create_input', { folder, names: ['input1.txt', 'input2.txt', 'input3.txt', 'input4.txt'] }, ['left', 'right']),
      left: action('read_delete_write', { folder, first: 'input1.txt', second: 'input2.txt', output: 'output1.txt' }, ['check']),
      right: action('read_delete_write', { folder, first: 'input3.txt', second: 'input4.txt', output: 'output2.txt' }, ['check']),
      check: action('check_outputs', { folder, expected: ['output1.txt', 'output2.txt', 'input2.txt', 'input4.txt'], absent: ['input1.txt', 'input3.txt'] }, [{ True: ['yes'], False: ['no'] }]),
      yes: action('answer', { value: false }, [{ True: ['never1'], False: ['ranked(5)'] }]),
      no: action('never', {}, []),
      never1: action('never', {}, ['tail']),
      ranked: action('write_rank', { folder }, ['final']),
      final: action('check_ranks', { folder, count: 5 }, ['tail']),
      tail: action('answer', { value: 'after the branch' }, []),
    },
  };
}

/** The instances that run, and those that are skipped, in the integration workflow. */
export const INTEGRATION_RAN = ['check', 'final', 'left', 'ranked.1', 'ranked.2', 'ranked.3', 'ranked.4', 'ranked.5', 'right', 'start', 'tail', 'yes'];
export const INTEGRATION_SKIPPED = ['never1', 'no'];

export async function createWorkflow(platform: Platform, document: unknown, code: Record<string, string>, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<Json> {
  const form = new FormData();
  form.append('workflow', typeof document === 'string' ? document : JSON.stringify(document));
  form.append('code', new Blob([zipOf(code)]), 'code.zip');
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  return call(`${platform.apiUrl}/v1/workflows`, { method: 'POST', body: form, headers });
}

/** Creates a workflow and waits until its image is built. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the workflow's JSON, as the tests read it
export async function deployWorkflow(platform: Platform, document: unknown, code: Record<string, string>, fields: Record<string, string> = {}, headers: Record<string, string> = {}): Promise<any> {
  const created = await createWorkflow(platform, document, code, fields, headers);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.workflow.workflow_id as string;
  return waitFor(`workflow ${id} to be built`, async () => {
    const { body } = await call(`${platform.apiUrl}/v1/workflows/${id}`, { headers });
    return body.workflow.status === 'building' ? undefined : body.workflow;
  });
}

export async function invokeWorkflow(platform: Platform, workflowId: string, invocationId?: string, headers: Record<string, string> = {}): Promise<Json> {
  return call(`${platform.apiUrl}/v1/workflows/${workflowId}/invocations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(invocationId === undefined ? {} : { InvocationID: invocationId }),
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the invocation's JSON
export async function waitForInvocation(platform: Platform, workflowId: string, invocationId: string, timeoutMs = 150_000, headers: Record<string, string> = {}): Promise<any> {
  return waitFor(
    `invocation ${invocationId} to end`,
    async () => {
      const { body } = await call(`${platform.apiUrl}/v1/workflows/${workflowId}/invocations/${invocationId}`, { headers });
      const invocation = body.invocation;
      const settled = invocation.status !== 'running' && invocation.actions.every((a: { status: string }) => ['succeeded', 'failed', 'skipped', 'cancelled', 'timeout'].includes(a.status));
      return settled ? invocation : undefined;
    },
    timeoutMs,
  );
}

/** `action` or `action.rank` of each instance with that status, sorted. */
export const instancesWith = (invocation: { actions: { action: string; rank: number; max_rank: number; status: string }[] }, status: string): string[] =>
  invocation.actions
    .filter((a) => a.status === status)
    .map((a) => (a.max_rank > 1 ? `${a.action}.${a.rank}` : a.action))
    .sort();
