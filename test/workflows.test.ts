/**
 * FaaSr workflows on Pratai, against real Docker and the local data store (Endpoint `local`):
 * the integration-shaped workflow ends succeeded with exactly the expected instances run once
 * each (fan-out, joins, a True/False chain whose untaken branches never start, a rank of 5, a
 * join after a skipped branch), its files and FaaSr's logs where FaaSr puts them; a failing action
 * fails the invocation and starts nothing after it while the running branch finishes; an
 * InvocationID is used once; bad documents are 400s naming the problem with nothing stored; the
 * hidden function is not a function of the API, a webhook, a job's, a version's or an alias's.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readWorkflow } from '../common/workflows/document.js';
import { TestCli } from './helpers/cli.js';
import { assertNoLeftoverContainers, call, removeFunctionImages, startTestPlatform, waitFor, waitForRequest, type TestPlatform } from './helpers/platform.js';
import { createWorkflow, deployWorkflow, INTEGRATION_CODE, INTEGRATION_RAN, INTEGRATION_SKIPPED, instancesWith, integrationDocument, invokeWorkflow, waitForInvocation } from './helpers/workflows.js';

const LOCAL = { Endpoint: 'local', Bucket: 'faasr-bucket', Region: '', Writable: 'TRUE', Anonymous: false };

const FAILING_CODE = {
  'fail.py': [
    'import time',
    '',
    'def begin():',
    '    return None',
    '',
    'def explode():',
    '    raise RuntimeError("this action fails")',
    '',
    'def slow():',
    '    time.sleep(2)',
    '    faasr_put_file',  // injected: a name error here would fail the branch
    '',
    'def after():',
    '    raise AssertionError("nothing starts after a failed action")',
    '',
  ].join('\n'),
};

function failingDocument(): Record<string, unknown> {
  const action = (fn: string, next: unknown[] = []): Record<string, unknown> => ({ FunctionName: fn, FaaSServer: 'x', Type: 'Python', Arguments: {}, InvokeNext: next });
  return {
    WorkflowName: 'fails',
    FunctionInvoke: 'begin',
    DefaultDataStore: 'S3',
    ComputeServers: {},
    DataStores: { S3: LOCAL },
    ActionList: { begin: action('begin', ['explode', 'slow']), explode: action('explode', ['after']), slow: action('slow', ['after']), after: action('after') },
  };
}

describe('workflows over the local data store', () => {
  let platform: TestPlatform;
  const functionIds: string[] = [];

  before(async () => {
    platform = await startTestPlatform({ runner: { concurrency: '8' } });
  });
  after(async () => {
    await platform.close();
    assertNoLeftoverContainers(platform.runnerName);
    removeFunctionImages(functionIds);
  });

  test('the FaaSr integration-shaped workflow succeeds, every expected instance run once and the untaken branches never started', async () => {
    const workflow = await deployWorkflow(platform, integrationDocument('integration', LOCAL, 'wf-data'), INTEGRATION_CODE);
    functionIds.push(workflow.function_id);
    assert.equal(workflow.status, 'ready', workflow.build_log);
    const started = await invokeWorkflow(platform, workflow.workflow_id, 'run-one');
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const invocation = await waitForInvocation(platform, workflow.workflow_id, started.body.invocation.invocation_id);
    const failedOnes = invocation.actions.filter((a: { status: string }) => a.status === 'failed');
    for (const failed of failedOnes) {
      const { body } = await call(`${platform.apiUrl}/v1/requests/${failed.request_id}`);
      assert.fail(`${failed.action} failed: ${JSON.stringify(body.request.error)} ${JSON.stringify(body.request.logs)}`);
    }
    assert.equal(invocation.status, 'succeeded');
    assert.deepEqual(instancesWith(invocation, 'succeeded'), INTEGRATION_RAN);
    assert.deepEqual(instancesWith(invocation, 'skipped'), INTEGRATION_SKIPPED);
    assert.equal(invocation.actions.length, INTEGRATION_RAN.length + INTEGRATION_SKIPPED.length, 'one instance per action and rank');
    // Every action instance is an ordinary request of the workflow's function, run once.
    const { body } = await call(`${platform.apiUrl}/v1/requests?function_id=${workflow.function_id}`);
    assert.equal(body.requests.length, INTEGRATION_RAN.length);
    assert.ok(body.requests.every((r: { status: string; attempts: number }) => r.status === 'succeeded' && r.attempts === 1));

    const bucket = join(platform.statePath, 'workflow-data', 'noauth', 'faasr-bucket');
    assert.deepEqual(readdirSync(join(bucket, 'wf-data')).sort(), ['input2.txt', 'input4.txt', 'output1.txt', 'output2.txt', 'rank1-of-5.txt', 'rank2-of-5.txt', 'rank3-of-5.txt', 'rank4-of-5.txt', 'rank5-of-5.txt']);
    assert.equal(readFileSync(join(bucket, 'wf-data', 'output2.txt'), 'utf8'), 'CONTENT OF INPUT3.TXT+CONTENT OF INPUT4.TXT');
    const logFolder = join(bucket, invocation.log_folder);
    assert.match(invocation.log_folder, /^FaaSrLog\/integration\/[0-9-]+\/run-one$/);
    assert.deepEqual(readdirSync(join(logFolder, 'function_completions')).sort(), INTEGRATION_RAN.map((name) => `${name}.done`).sort());
    assert.match(readFileSync(join(logFolder, 'start.txt'), 'utf8'), /put 4 inputs for run-one/);
  });

  test('a second run with the same InvocationID is refused, and starts nothing', async () => {
    const { body } = await call(`${platform.apiUrl}/v1/workflows`);
    const workflow = body.workflows.find((w: { name: string }) => w.name === 'integration');
    const again = await invokeWorkflow(platform, workflow.workflow_id, 'run-one');
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'InvocationExists');
    const list = await call(`${platform.apiUrl}/v1/workflows/${workflow.workflow_id}/invocations`);
    assert.equal(list.body.invocations.length, 1);
  });

  test('a failing action fails the invocation, starts nothing after it, and lets the running branch finish', async () => {
    const workflow = await deployWorkflow(platform, failingDocument(), FAILING_CODE);
    functionIds.push(workflow.function_id);
    const started = await invokeWorkflow(platform, workflow.workflow_id);
    assert.equal(started.status, 202);
    const invocation = await waitForInvocation(platform, workflow.workflow_id, started.body.invocation.invocation_id);
    assert.equal(invocation.status, 'failed');
    assert.deepEqual(instancesWith(invocation, 'failed'), ['explode']);
    assert.deepEqual(instancesWith(invocation, 'succeeded'), ['begin', 'slow']);
    assert.ok(!invocation.actions.some((a: { action: string }) => a.action === 'after'), 'the join after the failure never started');
    const failed = invocation.actions.find((a: { action: string }) => a.action === 'explode');
    const { body } = await call(`${platform.apiUrl}/v1/requests/${failed.request_id}`);
    assert.equal(body.request.error.type, 'RuntimeError');
    assert.match(body.request.error.message, /this action fails/);
  });

  test('a cancelled invocation stops its running action and starts nothing after it', async () => {
    const document = { ...failingDocument(), WorkflowName: 'cancelled', ActionList: { begin: { FunctionName: 'slow', InvokeNext: ['after'] }, after: { FunctionName: 'after' } } };
    const workflow = await deployWorkflow(platform, document, { 'fail.py': (FAILING_CODE['fail.py']).replace('time.sleep(2)', 'time.sleep(60)') });
    functionIds.push(workflow.function_id);
    const started = await invokeWorkflow(platform, workflow.workflow_id);
    const invocationId = started.body.invocation.invocation_id as string;
    const path = `${platform.apiUrl}/v1/workflows/${workflow.workflow_id}/invocations/${invocationId}`;
    await waitFor('begin to run', async () => ((await call(path)).body.invocation.actions[0].status === 'running' ? true : undefined));
    const cancelled = await call(`${path}/cancel`, { method: 'POST' });
    assert.equal(cancelled.status, 202, JSON.stringify(cancelled.body));
    assert.equal(cancelled.body.invocation.status, 'cancelled');
    const request = await waitForRequest(platform, cancelled.body.invocation.actions[0].request_id as string);
    assert.equal(request.status, 'cancelled', 'its running request was stopped');
    const invocation = (await call(path)).body.invocation;
    assert.deepEqual(invocation.actions.map((a: { action: string; status: string }) => `${a.action}:${a.status}`), ['begin:cancelled']);
    const again = await call(`${path}/cancel`, { method: 'POST' });
    assert.equal(again.status, 409);
    assert.equal(again.body.error.code, 'InvocationFinished');
  });

  test('PATCH checks a new document against the code and changes nothing when it is refused', async () => {
    const { body } = await call(`${platform.apiUrl}/v1/workflows`);
    const workflow = body.workflows.find((w: { name: string }) => w.name === 'fails');
    const patch = (document: unknown): Promise<{ status: number; body: any }> => { // eslint-disable-line @typescript-eslint/no-explicit-any -- JSON
      const form = new FormData();
      form.append('workflow', JSON.stringify(document));
      return call(`${platform.apiUrl}/v1/workflows/${workflow.workflow_id as string}`, { method: 'PATCH', body: form });
    };
    const refused = await patch({ ...failingDocument(), ActionList: { ...(failingDocument().ActionList as object), begin: { FunctionName: 'not_in_code', InvokeNext: ['explode', 'slow'] } } });
    assert.equal(refused.status, 400);
    assert.match(refused.body.error.message, /`not_in_code`/);
    assert.equal((await call(`${platform.apiUrl}/v1/workflows/${workflow.workflow_id as string}`)).body.workflow.document.ActionList.begin.FunctionName, 'begin');
    const renamed = await patch({ ...failingDocument(), WorkflowName: 'fails-renamed' });
    assert.equal(renamed.status, 200, JSON.stringify(renamed.body));
    assert.equal(renamed.body.workflow.name, 'fails-renamed');
    assert.equal(renamed.body.workflow.status, 'ready', 'the same code: no new image');
    assert.equal((await patch({ ...failingDocument(), WorkflowName: 'fails' })).status, 200);
  });

  test('bad documents are 400s naming the problem, and nothing is stored', async () => {
    const base = integrationDocument('bad', LOCAL, 'x');
    const actions = base.ActionList as Record<string, Record<string, unknown>>;
    const variants: [string, Record<string, unknown>, Record<string, string>, RegExp][] = [
      ['a cycle', { ...base, ActionList: { ...actions, tail: { ...actions.tail, InvokeNext: ['check'] } } }, INTEGRATION_CODE, /cycle: check -> yes -> never1 -> tail -> check|cycle/],
      ['an unknown action in InvokeNext', { ...base, ActionList: { ...actions, tail: { ...actions.tail, InvokeNext: ['nowhere'] } } }, INTEGRATION_CODE, /`nowhere`, which `ActionList` does not define/],
      ['a rank after a join', { ...base, ActionList: { ...actions, left: { ...actions.left, InvokeNext: ['check(3)'] } } }, INTEGRATION_CODE, /`check` is ranked \(check\(3\)\) and has 2 predecessors/],
      ['a FunctionName not in the code', { ...base, ActionList: { ...actions, tail: { ...actions.tail, FunctionName: 'missing_function' } } }, INTEGRATION_CODE, /`missing_function`, which no \.py file/],
      ['an unknown data store', { ...base, DefaultDataStore: 'Elsewhere' }, INTEGRATION_CODE, /`DefaultDataStore` names the data store `Elsewhere`/],
      ['a branch mixed with plain successors', { ...base, ActionList: { ...actions, check: { ...actions.check, InvokeNext: ['tail', { True: ['yes'], False: ['no'] }] } } }, INTEGRATION_CODE, /mixes a True\/False branch/],
    ];
    for (const [what, document, code, message] of variants) {
      const response = await createWorkflow(platform, document, code);
      assert.equal(response.status, 400, `${what}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error.code, 'WorkflowInvalid', what);
      assert.match(response.body.error.message, message, what);
    }
    const notJson = await createWorkflow(platform, '{"WorkflowName": ', INTEGRATION_CODE);
    assert.equal(notJson.status, 400);
    const { body } = await call(`${platform.apiUrl}/v1/workflows`);
    assert.deepEqual(body.workflows.map((w: { name: string }) => w.name).sort(), ['cancelled', 'fails', 'integration']);
    const functions = await call(`${platform.apiUrl}/v1/functions`);
    assert.deepEqual(functions.body.functions, [], 'no function stored for a refused workflow, and the hidden ones are not listed');
  });

  test("a workflow's hidden function is not a function anything may name: its routes, webhooks, jobs, versions, aliases and subscriptions find none", async () => {
    const { body } = await call(`${platform.apiUrl}/v1/workflows`);
    const functionId = body.workflows[0].function_id as string;
    const name = `_workflow.${body.workflows[0].workflow_id as string}`;
    const json = (method: string, payload: unknown): RequestInit => ({ method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(payload) });
    const notFound = (response: Awaited<ReturnType<typeof call>>, what: string): void => {
      assert.equal(response.status, 404, `${what}: ${JSON.stringify(response.body)}`);
      assert.equal(response.body.error.code, 'FunctionNotFound', what);
    };
    notFound(await call(`${platform.apiUrl}/v1/functions/${functionId}`), 'GET the function');
    notFound(await call(`${platform.apiUrl}/v1/functions/${functionId}`, json('PATCH', { subscriptions: [] })), 'PATCH its subscriptions');
    // `/function/…` is served by the lean route, `/Function/…` by Express (ARCHITECTURE.md invariant 20).
    for (const prefix of ['/function', '/Function']) {
      for (const path of ['', '/versions/1', '/aliases/prod']) {
        notFound(await call(`${platform.webhookUrl}${prefix}/${functionId}${path}`, json('POST', { payload: {} })), `its webhook${prefix}${path}`);
      }
    }
    notFound(await call(`${platform.apiUrl}/v1/functions/${functionId}/versions`, { method: 'POST' }), 'publish a version');
    notFound(await call(`${platform.apiUrl}/v1/functions/${functionId}/versions`), 'list its versions');
    notFound(await call(`${platform.apiUrl}/v1/functions/${functionId}/aliases`, json('POST', { name: 'prod', version: 1 })), 'create an alias');
    for (const ref of [functionId, name, `${functionId}:1`, `${name}:prod`]) {
      notFound(await call(`${platform.apiUrl}/v1/jobs`, json('POST', { function_id: ref, pattern: '* * * * * *' })), `a job of ${ref}`);
    }
    assert.deepEqual((await call(`${platform.apiUrl}/v1/jobs`)).body.jobs, [], 'no job stored');
    assert.deepEqual((await call(`${platform.apiUrl}/v1/workflows/${body.workflows[0].workflow_id as string}`)).status, 200, 'the workflow is untouched');
  });

  test("another project's workflows and invocations are not found in the store", async () => {
    const workflows = platform.store.workflows?.();
    assert.ok(workflows);
    const [workflow] = await workflows.listWorkflows({ tenantId: 'noauth' });
    assert.ok(workflow);
    assert.equal(await workflows.getWorkflow(workflow.workflow_id, { tenantId: 'another-project' }), undefined);
    assert.deepEqual(await workflows.listWorkflows({ tenantId: 'another-project' }), []);
    const [invocation] = await workflows.listInvocations(workflow.workflow_id, 10);
    assert.ok(invocation);
    assert.equal(await workflows.getInvocation(invocation.invocation_id, { tenantId: 'another-project' }), undefined);
    assert.ok(!existsSync(join(platform.statePath, 'workflow-data', 'another-project')));
  });

  test('the CLI creates a workflow from a folder, runs it with a live view and draws its DAG', async () => {
    const cli = new TestCli({ OS_PRATAI_URL: platform.apiUrl });
    try {
      const code = join(cli.home, 'code');
      for (const [path, text] of Object.entries(INTEGRATION_CODE)) {
        mkdirSync(join(code, path, '..'), { recursive: true });
        writeFileSync(join(code, path), text);
      }
      writeFileSync(join(cli.home, 'wf.json'), JSON.stringify(integrationDocument('ignored', LOCAL, 'cli-data')));
      const create = await cli.run(['workflow-create', 'from-cli', '--file', 'wf.json', '--code', 'code', '--wait', '-f', 'json']);
      assert.equal(create.code, 0, create.stderr);
      const created = JSON.parse(create.stdout) as { workflow_id: string; name: string; status: string };
      assert.equal(created.name, 'from-cli');
      assert.equal(created.status, 'ready');
      const { body } = await call(`${platform.apiUrl}/v1/workflows/${created.workflow_id}`);
      functionIds.push(body.workflow.function_id as string);
      assert.match(await cli.ok(['workflow-list', '-f', 'value', '-c', 'Name']), /from-cli/);
      assert.match(await cli.ok(['workflow-show', 'from-cli', '-f', 'value', '-c', 'first_action']), /^start$/m);
      const run = await cli.run(['workflow-invoke', 'from-cli', '--invocation-id', 'cli-run', '--wait']);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stderr, /ranked\(5\/5\)\s+succeeded/, 'the live view names each instance as it changes');
      assert.match(run.stdout, /^ 1 {2}✓ start \[succeeded\]$/m);
      assert.match(run.stdout, /- no \[skipped\]/);
      assert.match(run.stdout, /check -True-> yes, -False-> no/);
      assert.match(run.stdout, /status\s+\|\s+succeeded/);
      const listed = await cli.ok(['workflow-invocation-list', 'from-cli', '-f', 'value', '-c', 'InvocationID', '-c', 'Status']);
      assert.equal(listed.trim(), 'cli-run succeeded');
      const { body: invocations } = await call(`${platform.apiUrl}/v1/workflows/${created.workflow_id}/invocations`);
      const shown = await cli.ok(['workflow-invocation-show', 'from-cli', invocations.invocations[0].invocation_id as string]);
      assert.match(shown, /5×succeeded/);
      assert.match(shown, /\| ranked +\| 3\/5 +\| succeeded/);
      await cli.ok(['workflow-delete', 'from-cli']);
      assert.equal((await call(`${platform.apiUrl}/v1/workflows/${created.workflow_id}`)).status, 404);
    } finally {
      cli.close();
    }
  });

  test('the document reader names FaaSr rules: unreachable actions, a bad WorkflowName', () => {
    const base = integrationDocument('ok', LOCAL, 'x');
    const actions = base.ActionList as Record<string, Record<string, unknown>>;
    assert.throws(() => readWorkflow({ ...base, ActionList: { ...actions, island: { FunctionName: 'never', InvokeNext: [] } } }), /No path from `start`.*`island`/);
    assert.throws(() => readWorkflow({ ...base, WorkflowName: '1st_flow' }), /WorkflowName/);
    assert.equal(readWorkflow(base).actions.get('ranked')?.maxRank, 5);
  });
});
