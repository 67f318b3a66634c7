/**
 * The platform's own image (the top-level Dockerfile), as an operator meets it: it builds from the
 * checkout with no network, on the base given as BASE; a container of it runs pratai-server with
 * the host's Docker socket mounted, answers /healthcheck, and runs a function created through its
 * API to `succeeded`. Everything the test made (image, build stage, containers, the function's
 * image) is removed after; the base image is kept, as a cache.
 *
 * BASE: PRATAI_IMAGE_BASE when set; node:20-bookworm-slim when this engine has it; else the local
 * stand-in deploy/make-local-base.sh makes (Debian bookworm + this machine's Node 20).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { envName, loadSettings, OPTIONS } from '../common/config.js';
import { call, ECHO_MODULE, functionImages, leftoverContainers, waitFor, zipOf } from './helpers/platform.js';

const exec = promisify(execFile);
const ROOT = new URL('..', import.meta.url).pathname;
const id = `${process.pid}-${randomBytes(4).toString('hex')}`;
const image = `pratai/platform:test-${id}`;
const runnerName = `image-test-${id}`;
const containerLabel = `pratai.image-test=${id}`;
const PUBLIC_BASE = 'node:20-bookworm-slim';

const docker = async (...args: string[]): Promise<string> => (await exec('docker', args, { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 })).stdout.trim();

/** The last lines the platform in the container wrote (it logs to stderr). */
async function containerLog(): Promise<string> {
  const { stdout, stderr } = await exec('docker', ['logs', '--tail', '30', container]).catch(() => ({ stdout: '', stderr: '' }));
  return `${stdout}${stderr}`;
}

async function chooseBase(): Promise<string> {
  if (process.env.PRATAI_IMAGE_BASE) return process.env.PRATAI_IMAGE_BASE;
  if (await docker('image', 'inspect', PUBLIC_BASE).then(() => true, () => false)) return PUBLIC_BASE;
  return (await exec(`${ROOT}deploy/make-local-base.sh`, [], { cwd: ROOT })).stdout.trim();
}

let apiUrl = '';
let webhookUrl = '';
let container = '';
let functionId: string | undefined;
let built = '';
let channels = '';

before(async () => {
  assert.ok(existsSync(`${ROOT}dist/bin/pratai-server.js`), 'dist/ is built (npm run build)');
  const base = await chooseBase();
  const started = Date.now();
  await docker('build', '-q', '-t', image, '--label', `pratai.build-id=${id}`, '--build-arg', `BUILD_ID=${id}`, '--build-arg', `BASE=${base}`, '.');
  built = `image built on ${base} in ${((Date.now() - started) / 1000).toFixed(1)} s`;

  const socketGroup = String(statSync('/var/run/docker.sock').gid);
  // The channels' folder at the same path in the container as on the Docker host (as
  // deploy/compose.yaml mounts it), writable by the image's user.
  channels = mkdtempSync(join(tmpdir(), 'pratai-image-channels-'));
  chmodSync(channels, 0o777);
  container = await docker(
    'run', '-d', '--label', containerLabel,
    '--group-add', socketGroup, '-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${channels}:${channels}`, '-e', `PRATAI_RUNNER_CHANNEL_DIR=${channels}`,
    '-p', '127.0.0.1::9998', '-p', '127.0.0.1::9898',
    '-e', `PRATAI_RUNNER_NAME=${runnerName}`, '-e', 'PRATAI_RUNNER_HEARTBEAT_INTERVAL=1', '-e', 'PRATAI_DEFAULT_AUTH_STRATEGY=noauth',
    image,
  );
  const published = async (port: number): Promise<string> => `http://${await docker('port', container, `${port}/tcp`)}`;
  apiUrl = await published(9998);
  webhookUrl = await published(9898);
});

after(async () => {
  // The function's image goes with the function (its runner removes it); a graceful stop makes the
  // platform remove its own containers (warm ones included); then the container, the image and its
  // build stage go. A failed test still cleans up everything.
  if (functionId !== undefined) await call(`${apiUrl}/v1/functions/${functionId}`, { method: 'DELETE' }).catch(() => undefined);
  if (functionId !== undefined) await waitFor('the function image to be removed', async () => (functionImages(functionId!).length === 0 ? true : undefined), 60_000).catch(() => undefined);
  if (container) await docker('stop', '--time', '60', container).catch(() => undefined);
  const logs = container ? await containerLog() : '';
  const leftover = leftoverContainers(runnerName);
  const containers = [...leftover, ...(await docker('ps', '-aq', '--filter', `label=${containerLabel}`)).split('\n').filter(Boolean)];
  if (containers.length > 0) await docker('rm', '-f', '-v', ...containers);
  const images = (await docker('images', '-q', '--filter', `label=pratai.build-id=${id}`)).split('\n').filter(Boolean);
  if (images.length > 0) await docker('rmi', '-f', ...new Set(images));
  if (functionId !== undefined) for (const image of functionImages(functionId)) await docker('rmi', '-f', image).catch(() => undefined);
  if (channels) rmSync(channels, { recursive: true, force: true });
  assert.deepEqual(leftover, [], `the stopped platform left containers of runner ${runnerName} behind; its log:\n${logs}`);
  assert.equal(await docker('images', '-q', '--filter', `label=pratai.build-id=${id}`), '', 'the build left images behind');
});

test('a container of the image answers /healthcheck once its runner reaches Docker through the mounted socket', async (t) => {
  t.diagnostic(built);
  const health = await waitFor(
    'the API to answer healthy',
    async () => {
      const answer = await call(`${apiUrl}/healthcheck`, { headers: { accept: 'application/json' } }).catch(() => undefined);
      if (answer?.status === 200) return answer;
      if ((await docker('inspect', '--format', '{{.State.Running}}', container)) !== 'true') {
        assert.fail(`the container stopped; its log:\n${await containerLog()}`);
      }
      return undefined;
    },
    60_000,
  );
  assert.deepEqual(health.body, { healthy: true, reasons: [] });
  assert.equal((await call(`${apiUrl}/v1/runtimes`)).body.runtimes[0].status, 'available');
});

test('a function created through the containerised API runs a request to succeeded', async () => {
  const form = new FormData();
  form.append('name', `image-smoke-${id}`);
  form.append('zip', new Blob([zipOf({ 'new_module.py': ECHO_MODULE, 'requirements.txt': '' })]), 'package.zip');
  const created = await call(`${apiUrl}/v1/functions`, { method: 'POST', body: form });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  functionId = created.body.function.function_id as string;
  const ready = await waitFor(`function ${functionId} to be built`, async () => {
    const { body } = await call(`${apiUrl}/v1/functions/${functionId}`);
    return body.function.status === 'building' ? undefined : body.function;
  });
  assert.equal(ready.status, 'ready', ready.build_log);

  const accepted = await call(`${webhookUrl}/function/${functionId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ payload: { from: 'the image' } }),
  });
  assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
  const requestId = accepted.body.request_id as string;
  const done = await waitFor(`request ${requestId} to finish`, async () => {
    const { body } = await call(`${apiUrl}/v1/requests/${requestId}`);
    return ['queued', 'running'].includes(body.request.status) ? undefined : body.request;
  });
  assert.equal(done.status, 'succeeded', JSON.stringify(done.error));
  assert.deepEqual(done.response, { from: 'the image' });
});

test('the other commands of the image are on its PATH: pratai-api, pratai-runner, pratai-manage', async () => {
  const out = await docker('run', '--rm', '--label', containerLabel, image, 'sh', '-c', 'pratai-manage --help && pratai-api --help && pratai-runner --help');
  assert.match(out, /pratai-manage .*COMMAND/);
  assert.match(out, /Usage: pratai-api/);
  assert.match(out, /Usage: pratai-runner/);
});

test('the deploy/ example configures only options that exist, in the file and in the compose environment', () => {
  const file = loadSettings({ files: [`${ROOT}deploy/pratai.conf`], env: {} });
  assert.deepEqual(file.warnings, []);
  assert.equal(file.settings.DEFAULT.auth_strategy, 'keystone');
  assert.match(file.settings.database.connection, /^mysql\+pymysql:\/\//);

  const compose = parseYaml(readFileSync(`${ROOT}deploy/compose.yaml`, 'utf8'), { merge: true }) as { services: Record<string, { image?: string; command?: string; environment?: Record<string, string> }> };
  const pratai = Object.entries(compose.services).filter(([, service]) => service.image === 'pratai/platform');
  assert.deepEqual(pratai.map(([name, service]) => `${name}: ${service.command ?? ''}`).sort(), [
    'api-1: pratai-api', 'api-2: pratai-api', 'db-sync: pratai-manage db-sync', 'runner-1: pratai-runner', 'runner-2: pratai-runner',
  ]);
  const known = new Set(Object.entries(OPTIONS).flatMap(([section, options]) => Object.keys(options).map((option) => envName(section, option))));
  for (const [name, service] of pratai) {
    const unknown = Object.keys(service.environment ?? {}).filter((variable) => !known.has(variable));
    assert.deepEqual(unknown, [], `${name} sets variables that name no option`);
    loadSettings({ files: ['/dev/null'], env: service.environment ?? {} }); // every value valid
  }
});
