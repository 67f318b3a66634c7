/**
 * Workflows against a real OpenStack Swift through its S3 API: the integration-shaped workflow
 * ends succeeded with the same instances as over the local store, its files and FaaSr's logs and
 * `.done` objects in the bucket where FaaSr puts them. The document names a public endpoint that
 * the operator maps to the Swift ([workflows] endpoint_map), and carries no keys: they come from
 * the project's secrets S3_AccessKey and S3_SecretKey.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { assertNoLeftoverContainers, call, removeFunctionImages, startTestPlatform, type TestPlatform } from './helpers/platform.js';
import { startSwift, type Swift } from './helpers/swift.js';
import { deployWorkflow, INTEGRATION_CODE, INTEGRATION_RAN, INTEGRATION_SKIPPED, instancesWith, integrationDocument, invokeWorkflow, waitForInvocation } from './helpers/workflows.js';

const PUBLIC_ENDPOINT = 'https://objects.cloud.example';
const BUCKET = 'faasr-swift';

describe('workflows over OpenStack Swift (S3 API)', () => {
  let swift: Swift;
  let platform: TestPlatform;
  let s3: S3Client;
  const functionIds: string[] = [];

  before(async () => {
    swift = await startSwift();
    s3 = new S3Client({ endpoint: swift.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: swift.accessKey, secretAccessKey: swift.secretKey } });
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    platform = await startTestPlatform({ runner: { concurrency: '8' }, workflows: { endpoint_map: `${PUBLIC_ENDPOINT}=${swift.endpoint}` } });
    for (const [name, value] of [['S3_AccessKey', swift.accessKey], ['S3_SecretKey', swift.secretKey]]) {
      const created = await call(`${platform.apiUrl}/v1/secrets`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, value }) });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
  });
  after(async () => {
    await platform?.close();
    s3?.destroy();
    await swift?.stop();
    if (platform) assertNoLeftoverContainers(platform.runnerName);
    removeFunctionImages(functionIds);
  });

  test('the FaaSr integration-shaped workflow succeeds on Swift, its files and logs in the bucket', async () => {
    const store = { Endpoint: PUBLIC_ENDPOINT, Bucket: BUCKET, Region: 'us-east-1', Writable: 'TRUE' };
    const workflow = await deployWorkflow(platform, integrationDocument('on-swift', store, 'swift-data'), INTEGRATION_CODE);
    functionIds.push(workflow.function_id);
    assert.equal(workflow.status, 'ready', workflow.build_log);
    const started = await invokeWorkflow(platform, workflow.workflow_id);
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const invocation = await waitForInvocation(platform, workflow.workflow_id, started.body.invocation.invocation_id);
    for (const failed of invocation.actions.filter((a: { status: string }) => a.status === 'failed')) {
      const { body } = await call(`${platform.apiUrl}/v1/requests/${failed.request_id}`);
      assert.fail(`${failed.action} failed: ${JSON.stringify(body.request.error)}`);
    }
    assert.equal(invocation.status, 'succeeded');
    assert.deepEqual(instancesWith(invocation, 'succeeded'), INTEGRATION_RAN);
    assert.deepEqual(instancesWith(invocation, 'skipped'), INTEGRATION_SKIPPED);

    const keys = async (prefix: string): Promise<string[]> => ((await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix }))).Contents ?? []).map((o) => o.Key as string).sort();
    assert.deepEqual(await keys('swift-data/'), ['input2.txt', 'input4.txt', 'output1.txt', 'output2.txt', 'rank1-of-5.txt', 'rank2-of-5.txt', 'rank3-of-5.txt', 'rank4-of-5.txt', 'rank5-of-5.txt'].map((k) => `swift-data/${k}`));
    const output = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'swift-data/output1.txt' }));
    assert.equal(await output.Body?.transformToString(), 'CONTENT OF INPUT1.TXT+CONTENT OF INPUT2.TXT');
    assert.deepEqual(await keys(`${invocation.log_folder}/function_completions/`), INTEGRATION_RAN.map((name) => `${invocation.log_folder}/function_completions/${name}.done`).sort());
    assert.ok((await keys(`${invocation.log_folder}/`)).includes(`${invocation.log_folder}/start.txt`));
  });
});
