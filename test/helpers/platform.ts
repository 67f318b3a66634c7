/**
 * Starts a real all-in-one platform in this process for a test file: its own state folder, free
 * ports, a runner name of its own (so its containers are told apart), real Docker.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AdmZip from 'adm-zip';
import { defaultSettings, type ConfigSources, type Settings } from '../../common/config.js';
import { isFinal, type RequestRecord } from '../../common/domain.js';
import { silentLogger, type Logger } from '../../common/log.js';
import { startPlatform, type Platform } from '../../server/platform.js';

export interface TestPlatform extends Platform {
  settings: Settings;
  runnerName: string;
  statePath: string;
  /** Stops the platform and removes its state folder. */
  close(): Promise<void>;
}

/** `options.log`: where the platform logs (a test that reads its log); silent by default, PRATAI_TEST_LOG=1 prints it. */
export async function startTestPlatform(overrides: NonNullable<ConfigSources['overrides']> = {}, options: { log?: Logger } = {}): Promise<TestPlatform> {
  const statePath = mkdtempSync(join(tmpdir(), 'pratai-test-'));
  const runnerName = `test-${process.pid}-${Math.random().toString(16).slice(2, 10)}`;
  const settings = defaultSettings({
    ...overrides,
    DEFAULT: { state_path: statePath, ...overrides.DEFAULT },
    api: { host: '127.0.0.1', port: '0', webhook_port: '0', ...overrides.api },
    // The cold path unless a test asks for warm containers (test/pool.test.ts, test/isolation.test.ts):
    // tests that count containers expect none to outlive its request.
    runner: { name: runnerName, heartbeat_interval: '1', pool_size: '0', prewarm: '0', ...overrides.runner },
  });
  const log = options.log ?? (process.env.PRATAI_TEST_LOG ? (await import('../../common/log.js')).createLogger('test', { debug: true }) : silentLogger);
  const platform = await startPlatform(settings, log);
  return {
    ...platform,
    settings,
    runnerName,
    statePath,
    close: async () => {
      await platform.stop();
      rmSync(statePath, { recursive: true, force: true });
    },
  };
}

/** Containers of this runner that still exist (running or not). */
export function leftoverContainers(runnerName: string): string[] {
  const out = execFileSync('docker', ['ps', '-aq', '--filter', `label=pratai.runner=${runnerName}`], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

export function assertNoLeftoverContainers(runnerName: string): void {
  assert.deepEqual(leftoverContainers(runnerName), [], `containers of runner ${runnerName} were left behind`);
}

/** Images built for a function that still exist. */
export function functionImages(functionId: string): string[] {
  const out = execFileSync('docker', ['images', '-q', '--filter', `label=pratai.function_id=${functionId}`], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

/** Removes the images of these functions (once no container of them is left). */
export function removeFunctionImages(functionIds: readonly string[]): void {
  const images = [...new Set(functionIds.flatMap(functionImages))];
  if (images.length > 0) execFileSync('docker', ['rmi', '-f', ...images], { stdio: 'ignore' });
}

/**
 * A zip holding the given files. adm-zip cleans names such as `../x` when adding them, so each
 * entry is added under a placeholder name of the same length that is then patched in the bytes.
 */
export function zipOf(files: Record<string, string | Buffer>): Buffer {
  const zip = new AdmZip();
  const names = Object.keys(files).map((name, index) => [name, `${String(index).padStart(name.length, 'Q')}`] as const);
  for (const [name, placeholder] of names) {
    const content = files[name] as string | Buffer;
    zip.addFile(placeholder, Buffer.isBuffer(content) ? content : Buffer.from(content));
  }
  const bytes = zip.toBuffer();
  for (const [name, placeholder] of names) {
    let at = bytes.indexOf(placeholder);
    while (at >= 0) {
      bytes.write(name, at, 'latin1');
      at = bytes.indexOf(placeholder, at + name.length);
    }
  }
  return bytes;
}

export const ECHO_MODULE = 'def main(payload=None):\n    return payload\n';

export interface Json {
  status: number;
  headers: Headers;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary JSON
}

export async function call(url: string, init: RequestInit = {}): Promise<Json> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown = text;
  if ((response.headers.get('content-type') ?? '').includes('json')) body = JSON.parse(text);
  return { status: response.status, headers: response.headers, body };
}

/** POST /v1/functions with the given zip and fields (and headers: an X-Auth-Token, say). */
export async function createFunction(platform: Platform, zip: Buffer | undefined, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<Json> {
  const form = new FormData();
  for (const [key, value] of Object.entries(fields)) form.append(key, value);
  if (zip !== undefined) form.append('zip', new Blob([zip]), 'package.zip');
  return call(`${platform.apiUrl}/v1/functions`, { method: 'POST', body: form, headers });
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Creates a function and waits until its image is built; returns it. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the function's JSON, as the tests read it
export async function deployFunction(platform: Platform, files: Record<string, string | Buffer>, fields: Record<string, string>, headers: Record<string, string> = {}): Promise<any> {
  const created = await createFunction(platform, zipOf(files), fields, headers);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = created.body.function.function_id as string;
  return waitFor(`function ${id} to be built`, async () => {
    const { body } = await call(`${platform.apiUrl}/v1/functions/${id}`, { headers });
    return body.function.status === 'building' ? undefined : body.function;
  });
}

export async function invoke(platform: Platform, functionId: string, payload: unknown, headers: Record<string, string> = {}): Promise<string> {
  const response = await call(`${platform.webhookUrl}/function/${functionId}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ payload }),
  });
  assert.equal(response.status, 202, JSON.stringify(response.body));
  return response.body.request_id as string;
}

export async function waitForRequest(platform: Platform, requestId: string, timeoutMs = 120_000, headers: Record<string, string> = {}): Promise<RequestRecord> {
  return waitFor(
    `request ${requestId} to finish`,
    async () => {
      const { body } = await call(`${platform.apiUrl}/v1/requests/${requestId}`, { headers });
      return isFinal(body.request.status) ? (body.request as RequestRecord) : undefined;
    },
    timeoutMs,
  );
}

/**
 * The host's address on Docker's default bridge: a local address a container with a network could
 * reach. Some engines leave the gateway out of `docker network inspect`: the bridge then has the
 * first address of its subnet.
 */
export function bridgeGateway(): string {
  const out = execFileSync('docker', ['network', 'inspect', 'bridge', '-f', '{{range .IPAM.Config}}{{.Gateway}}|{{.Subnet}}{{end}}'], { encoding: 'utf8' }).trim();
  const [gateway = '', subnet = ''] = out.split('|');
  if (gateway !== '') return gateway;
  const network = /^(\d+\.\d+\.\d+)\.0\//.exec(subnet);
  return network ? `${network[1]}.1` : '172.17.0.1';
}
