/**
 * Workflows and tenancy with the real Keystone: project B can neither see nor change project A's
 * workflow nor its invocations (every route answers 404 and changes nothing), listings stay in the
 * project, and B's workflow naming the same local Bucket sees none of A's files (each project has
 * its own folder); A's workflow's hidden function is nobody's function to call.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startTestKeystone, type TestKeystone, type TestProject } from './helpers/keystone.js';
import { assertNoLeftoverContainers, call, removeFunctionImages, startTestPlatform, type Json, type TestPlatform } from './helpers/platform.js';
import { createWorkflow, deployWorkflow, invokeWorkflow, waitForInvocation } from './helpers/workflows.js';

let keystone: TestKeystone;
let platform: TestPlatform;
const tokens: Record<'a' | 'b', Record<string, string>> = {} as never;
const projects: Record<'a' | 'b', TestProject> = {} as never;
const functionIds: string[] = [];

const CODE = {
  'files.py': [
    'def write():',
    '    open("mine.txt", "w").write("secret of A")',
    '    faasr_put_file(local_file="mine.txt", remote_file="mine.txt", remote_folder="private")',
    '',
    'def look():',
    '    return faasr_get_folder_list(prefix="")',
    '',
  ].join('\n'),
};

const documentOf = (name: string, fn: string): Record<string, unknown> => ({
  WorkflowName: name,
  FunctionInvoke: 'only',
  DefaultDataStore: 'S3',
  ComputeServers: {},
  DataStores: { S3: { Endpoint: 'local', Bucket: 'same-bucket' } },
  ActionList: { only: { FunctionName: fn, FaaSServer: 'x', Type: 'Python', Arguments: {} } },
});

before(async () => {
  keystone = await startTestKeystone();
  projects.a = await keystone.createProject('wa');
  projects.b = await keystone.createProject('wb');
  tokens.a = { 'x-auth-token': (await keystone.tokenFor(await keystone.createUser(projects.a, 'member', 'wa-member'))).token };
  tokens.b = { 'x-auth-token': (await keystone.tokenFor(await keystone.createUser(projects.b, 'member', 'wb-member'))).token };
  platform = await startTestPlatform({ DEFAULT: { auth_strategy: 'keystone' }, keystone_authtoken: keystone.authtokenOverrides() });
});

after(async () => {
  await platform?.close();
  if (platform) assertNoLeftoverContainers(platform.runnerName);
  removeFunctionImages(functionIds);
  await keystone?.close();
});

const api = (path: string, headers: Record<string, string>, init: RequestInit = {}): Promise<Json> =>
  call(`${platform.apiUrl}${path}`, { ...init, headers: { ...headers, ...(init.headers as Record<string, string> | undefined) } });

test("project B finds nothing of project A's workflows: every route 404, listings and data stores apart", async () => {
  const workflowA = await deployWorkflow(platform, documentOf('writer', 'write'), CODE, {}, tokens.a);
  functionIds.push(workflowA.function_id as string);
  const started = await invokeWorkflow(platform, workflowA.workflow_id as string, 'a-run', tokens.a);
  assert.equal(started.status, 202, JSON.stringify(started.body));
  const invocationA = await waitForInvocation(platform, workflowA.workflow_id as string, started.body.invocation.invocation_id as string, 120_000, tokens.a);
  assert.equal(invocationA.status, 'succeeded');
  const before = JSON.stringify(await platform.store.workflows?.().listWorkflows({ tenantId: projects.a.id }));

  const w = `/v1/workflows/${workflowA.workflow_id as string}`;
  const i = `${w}/invocations/${invocationA.invocation_id as string}`;
  const form = new FormData();
  form.append('workflow', JSON.stringify(documentOf('stolen', 'look')));
  for (const [method, path, body] of [
    ['GET', w],
    ['PATCH', w, form],
    ['DELETE', w],
    ['GET', `${w}/invocations`],
    ['POST', `${w}/invocations`],
    ['GET', i],
    ['POST', `${i}/cancel`],
  ] as [string, string, FormData?][]) {
    const response = await api(path, tokens.b, { method, ...(body && { body }) });
    assert.equal(response.status, 404, `${method} ${path}: ${JSON.stringify(response.body)}`);
    assert.equal(response.body.error.code, 'WorkflowNotFound', `${method} ${path}`);
  }
  assert.equal(JSON.stringify(await platform.store.workflows?.().listWorkflows({ tenantId: projects.a.id })), before, 'nothing of A changed');
  assert.deepEqual((await api('/v1/workflows', tokens.b)).body.workflows, []);
  assert.equal((await api(`/v1/functions/${workflowA.function_id as string}`, tokens.a)).status, 404, "the hidden function is not A's function either");

  // The same WorkflowName and Bucket in project B: its own workflow, its own files.
  const created = await createWorkflow(platform, documentOf('writer', 'look'), CODE, {}, tokens.b);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const workflowB = await deployWorkflow(platform, documentOf('looker', 'look'), CODE, {}, tokens.b);
  functionIds.push(workflowB.function_id as string, created.body.workflow.function_id as string);
  const run = await invokeWorkflow(platform, workflowB.workflow_id as string, 'a-run', tokens.b);
  assert.equal(run.status, 202, 'an InvocationID is per workflow');
  const invocationB = await waitForInvocation(platform, workflowB.workflow_id as string, run.body.invocation.invocation_id as string, 120_000, tokens.b);
  assert.equal(invocationB.status, 'succeeded');
  const { body } = await api(`/v1/requests/${invocationB.actions[0].request_id as string}`, tokens.b);
  assert.deepEqual(body.request.response.result, [], "B's bucket of the same name holds none of A's files");
});
