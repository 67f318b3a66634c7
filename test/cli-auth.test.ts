/**
 * Where the `pratai` CLI takes its endpoint and credentials from, as the OpenStack clients do:
 * flags over variables over clouds.yaml (and secure.yaml) in the standard places; TLS with
 * OS_CACERT or --insecure; and the mistakes a user can make there, each told in one line. Against
 * a noauth platform: the Keystone cases are in cli-keystone.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TestCli } from './helpers/cli.js';
import { freePort } from './helpers/processes.js';
import { startTestPlatform, type TestPlatform } from './helpers/platform.js';

let platform: TestPlatform;
let cli: TestCli;
let closedUrl: string;

before(async () => {
  platform = await startTestPlatform();
  cli = new TestCli();
  closedUrl = `http://127.0.0.1:${await freePort()}`;
});
after(async () => {
  cli?.close();
  await platform?.close();
});

/** runtime-list's names, one a line: proof the CLI reached the platform. */
const reached = async (args: string[], options: Parameters<TestCli['run']>[1] = {}): Promise<void> => {
  assert.equal(await cli.ok([...args, 'runtime-list', '-f', 'value', '-c', 'Name'], options), 'python3\n');
};

describe('endpoint and precedence', () => {
  test('without any OS_ variable the CLI calls http://localhost:9998 without a token', async () => {
    const result = await cli.run(['--debug', 'runtime-list']);
    assert.match(result.stderr, /^REQ: GET http:\/\/localhost:9998\/v1\/runtimes\n/);
  });

  test('OS_PRATAI_URL names the endpoint, and --os-pratai-url wins over it', async () => {
    await reached([], { env: { OS_PRATAI_URL: platform.apiUrl } });
    await reached(['--os-pratai-url', platform.apiUrl], { env: { OS_PRATAI_URL: closedUrl } });
  });

  test('OS_TOKEN with OS_PRATAI_URL is sent as X-Auth-Token, shown by --debug only as its hash', async () => {
    const result = await cli.run(['--debug', 'runtime-list'], { env: { OS_PRATAI_URL: platform.apiUrl, OS_TOKEN: 'secret-token' } });
    assert.equal(result.code, 0, result.stderr);
    const hash = createHash('sha256').update('secret-token').digest('hex');
    assert.ok(result.stderr.includes(`/v1/runtimes -H "X-Auth-Token: {SHA256}${hash}"\n`), result.stderr);
    assert.doesNotMatch(result.stderr, /secret-token/);
  });
});

describe('clouds.yaml', () => {
  const cloudsYaml = (url: string): string => `clouds:\n  local:\n    auth_type: none\n    pratai_url: ${url}\n  other:\n    auth_type: none\n`;

  test('OS_CLOUD takes the settings from ~/.config/openstack/clouds.yaml; --os-cloud does too', async () => {
    mkdirSync(join(cli.home, '.config', 'openstack'), { recursive: true });
    writeFileSync(join(cli.home, '.config', 'openstack', 'clouds.yaml'), cloudsYaml(platform.apiUrl));
    await reached([], { env: { OS_CLOUD: 'local' } });
    await reached(['--os-cloud', 'local']);
  });

  test('a variable wins over clouds.yaml, and clouds.yaml in the current folder over the one in ~/.config', async () => {
    assert.match(await cli.fails(['runtime-list'], { env: { OS_CLOUD: 'local', OS_PRATAI_URL: closedUrl } }), /^Unable to establish connection to http:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    const folder = join(cli.home, 'project');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'clouds.yaml'), cloudsYaml(closedUrl));
    assert.match(await cli.fails(['runtime-list'], { env: { OS_CLOUD: 'local' }, cwd: folder }), /^Unable to establish connection to http:\/\/127\.0\.0\.1:\d+/);
  });

  test('secure.yaml beside clouds.yaml adds its settings to the same cloud', async () => {
    const folder = join(cli.home, 'split');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'clouds.yaml'), 'clouds:\n  local:\n    auth_type: none\n');
    writeFileSync(join(folder, 'secure.yaml'), `clouds:\n  local:\n    pratai_url: ${platform.apiUrl}\n`);
    await reached([], { env: { OS_CLOUD: 'local' }, cwd: folder });
  });

  test('an unknown cloud, or no clouds.yaml at all, is one line naming what there is', async () => {
    assert.match(await cli.fails(['runtime-list'], { env: { OS_CLOUD: 'nope' } }), /^Cloud `nope` was not found in \S+clouds\.yaml \(it has local, other\)$/);
    assert.match(await cli.fails(['runtime-list'], { env: { OS_CLOUD: 'nope', HOME: join(cli.home, 'split') }, cwd: '/' }), /^OS_CLOUD is `nope` but no clouds\.yaml was found in \/, \S+\/\.config\/openstack, \/etc\/openstack$/);
  });
});

describe('settings that cannot work', () => {
  test('identity API v2, credentials without OS_AUTH_URL, or OS_AUTH_URL without credentials are usage errors', async () => {
    assert.equal(await cli.fails(['runtime-list'], { code: 2, env: { OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_IDENTITY_API_VERSION: '2' } }), 'Identity API version `2` is not supported; set OS_IDENTITY_API_VERSION=3');
    assert.equal(await cli.fails(['runtime-list'], { code: 2, env: { OS_USERNAME: 'u', OS_PASSWORD: 'p' } }), 'Set OS_AUTH_URL (or --os-auth-url), the Keystone endpoint, to authenticate with auth type `password`');
    assert.match(await cli.fails(['runtime-list'], { code: 2, env: { OS_AUTH_URL: 'http://127.0.0.1:5000/v3' } }), /^OS_AUTH_URL is set but no credentials are: set OS_USERNAME and OS_PASSWORD/);
    assert.equal(await cli.fails(['runtime-list'], { code: 2, env: { OS_AUTH_URL: 'http://127.0.0.1:5000/v3', OS_USERNAME: 'u' } }), 'Set OS_PASSWORD (or --os-password) to authenticate with a password');
  });

  test('an unreachable Keystone fails with one line naming it', async () => {
    const line = await cli.fails(['runtime-list'], { env: { OS_AUTH_URL: `${closedUrl}/v3`, OS_USERNAME: 'u', OS_PASSWORD: 'p', OS_PROJECT_NAME: 'p' } });
    assert.match(line, /^Keystone at http:\/\/127\.0\.0\.1:\d+\/v3 cannot be reached: ECONNREFUSED$/);
  });
});

describe('TLS', () => {
  let proxy: Server;
  let httpsUrl: string;
  let cacert: string;

  before(async () => {
    // A self-signed certificate for 127.0.0.1, and an https proxy in front of the platform.
    const key = join(cli.home, 'tls.key');
    cacert = join(cli.home, 'tls.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cacert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
    const target = new URL(platform.apiUrl);
    proxy = createServer({ key: readFileSync(key), cert: readFileSync(cacert) }, (req, res) => {
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(upstream);
    }).listen(0, '127.0.0.1');
    await once(proxy, 'listening');
    httpsUrl = `https://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  });
  after(() => {
    proxy?.close();
  });

  test('an https endpoint with an unknown certificate fails with one line saying why', async () => {
    assert.match(await cli.fails(['runtime-list'], { env: { OS_PRATAI_URL: httpsUrl } }), /^Unable to establish connection to https:\/\/127\.0\.0\.1:\d+: self[- ]signed certificate/);
  });

  test('OS_CACERT (or --os-cacert) verifies it with the given CA; --insecure does not verify', async () => {
    await reached([], { env: { OS_PRATAI_URL: httpsUrl, OS_CACERT: cacert } });
    await reached(['--os-cacert', cacert], { env: { OS_PRATAI_URL: httpsUrl } });
    await reached(['--insecure'], { env: { OS_PRATAI_URL: httpsUrl } });
    await reached([], { env: { OS_PRATAI_URL: httpsUrl, OS_INSECURE: 'true' } });
  });

  test('an OS_CACERT file that is not there is one line naming it', async () => {
    assert.equal(await cli.fails(['runtime-list'], { env: { OS_PRATAI_URL: httpsUrl, OS_CACERT: '/nowhere/ca.pem' } }), 'Cannot read the CA bundle OS_CACERT=/nowhere/ca.pem: no such file');
  });
});
