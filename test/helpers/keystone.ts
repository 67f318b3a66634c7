/**
 * The real OpenStack Keystone for tests.
 *
 *   import { startTestKeystone, type TestKeystone } from './helpers/keystone.js';
 *
 *   let keystone: TestKeystone;
 *   before(async () => { keystone = await startTestKeystone(); });   // ~1.5 s; see below
 *   after(() => keystone.close());     // stops this file's Keystone, deletes what the file made
 *
 *   const project = await keystone.createProject();                 // unique name per call
 *   const alice = await keystone.createUser(project, 'member');     // or 'reader', 'admin'
 *   const token = await keystone.tokenFor(alice);                   // project-scoped KeystoneToken
 *   keystone.authUrl                                                // http://127.0.0.1:PORT/v3
 *   keystone.authtokenOverrides()                                   // [keystone_authtoken] for a platform
 *   await keystone.stop(); ... await keystone.start();              // "Keystone is down" cases
 *
 * How it is shared: the Keystone *installation* (Debian's package, installed here when missing,
 * about 40 s), its PostgreSQL database `pratai_keystone_test` (role of the same name), its fernet
 * keys and the bootstrap (admin user, roles, the `pratai` service user) are made once per machine
 * under <tmpdir>/pratai-keystone-test and reused by every test file and every run (about 15 s the
 * first time, under a PostgreSQL advisory lock so that concurrent first runs do not collide).
 * The *server* (`keystone-wsgi-public`) is a process of each test file's own, on a free loopback
 * port: stopping it hurts no other file, and `close()` leaves no process behind (nor does a test
 * process that dies or is killed: the kernel stops its Keystone with it). Test data is
 * isolated by unique project and user names, and `close()` deletes it again.
 *
 * Keystone's default token lifetime (one hour) applies; `startShortLivedIssuer(seconds)` starts a
 * second server on the same database and keys whose tokens expire after `seconds`, for "expired
 * token" cases (fernet tokens carry their expiry, so any server of the same keys refuses them).
 *
 * Set PRATAI_TEST_KEYSTONE_LOG=1 to see Keystone's own output (it goes to its log file otherwise:
 * <tmpdir>/pratai-keystone-test/keystone.log).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { KeystoneClient, type KeystoneToken } from '../../common/keystone/client.js';
import { freePort } from './processes.js';

/** The bootstrap admin (`admin` role on project `admin`, and on the system). */
export const KEYSTONE_ADMIN = Object.freeze({ username: 'admin', password: 'pratai-test-admin', projectName: 'admin', domain: 'Default' });
/** Pratai's service user: `service` role on project `service`, as OpenStack services are set up. */
export const KEYSTONE_SERVICE_USER = Object.freeze({ username: 'pratai', password: 'pratai-test-service', projectName: 'service', domain: 'Default' });

const STATE = join(tmpdir(), 'pratai-keystone-test');
const CONF = join(STATE, 'keystone.conf');
const STAMP = join(STATE, 'ready');
const LOG = join(STATE, 'keystone.log');
const DB = 'pratai_keystone_test';
const DB_PASSWORD = 'pratai-keystone-test';
/** Change to force every machine to set its test Keystone up again. */
const SETUP_VERSION = '1';

export type TestRole = 'member' | 'reader' | 'admin';

export interface TestProject {
  readonly id: string;
  readonly name: string;
}

export interface TestUser {
  readonly id: string;
  readonly name: string;
  readonly password: string;
  readonly project: TestProject;
  readonly role: TestRole;
}

export interface TestKeystone {
  /** Base URL, without a version: `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** The v3 endpoint: `http://127.0.0.1:PORT/v3`; what `auth_url` / OS_AUTH_URL take. */
  readonly authUrl: string;
  readonly client: KeystoneClient;
  /** A project-scoped token of the bootstrap admin (renewed by each call). */
  adminToken(): Promise<string>;
  /** A new project with a unique name (in domain Default). */
  createProject(prefix?: string): Promise<TestProject>;
  /** A new user with `role` on `project` (a unique name and a random password). */
  createUser(project: TestProject, role: TestRole, prefix?: string): Promise<TestUser>;
  /** Gives `user` one more role on a project. */
  grantRole(user: TestUser, project: TestProject, role: TestRole | 'service'): Promise<void>;
  /** A token of `user` scoped to its project (or the given one), with the catalog. */
  tokenFor(user: TestUser, project?: TestProject): Promise<KeystoneToken>;
  /** Revokes a token, as its holder. */
  revoke(token: string): Promise<void>;
  /** An application credential of `user` (scoped to its project): id and secret. */
  createApplicationCredential(user: TestUser): Promise<{ id: string; secret: string }>;
  /** `[keystone_authtoken]` overrides pointing a platform at this Keystone as the service user. */
  authtokenOverrides(extra?: Record<string, string>): Record<string, string>;
  /** A second server on the same database and keys whose tokens expire after `seconds`. */
  startShortLivedIssuer(seconds: number): Promise<{ client: KeystoneClient; close(): Promise<void> }>;
  /** Stops this file's Keystone server (the port stays reserved for `start()`). */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Deletes the users and projects this file made, and stops the server. */
  close(): Promise<void>;
}

export async function startTestKeystone(): Promise<TestKeystone> {
  await ensureKeystoneReady();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  let server: ChildProcess | undefined = await serve(port, CONF);
  const client = new KeystoneClient({ authUrl: url });
  const made = { users: [] as string[], projects: [] as string[] };
  const unique = (prefix: string): string => `${prefix}-${process.pid}-${randomBytes(4).toString('hex')}`;

  let admin: KeystoneToken | undefined;
  const adminToken = async (): Promise<string> => {
    if (admin === undefined || admin.expiresAt.getTime() - Date.now() < 60_000) {
      admin = await client.issueToken(
        { method: 'password', username: KEYSTONE_ADMIN.username, password: KEYSTONE_ADMIN.password, scope: { projectName: KEYSTONE_ADMIN.projectName } },
        { catalog: false },
      );
    }
    return admin.token;
  };
  const roleIds = new Map<string, string>();
  const roleId = async (name: string): Promise<string> => {
    if (!roleIds.has(name)) {
      const { body } = await client.request<{ roles: { id: string }[] }>('GET', '/roles', { token: await adminToken(), query: { name } });
      const id = body.roles[0]?.id;
      if (id === undefined) throw new Error(`the test Keystone has no role ${name}`);
      roleIds.set(name, id);
    }
    return roleIds.get(name) as string;
  };
  const grantRole = async (user: { id: string }, project: TestProject, role: string): Promise<void> => {
    await client.request('PUT', `/projects/${project.id}/users/${user.id}/roles/${await roleId(role)}`, { token: await adminToken() });
  };

  const keystone: TestKeystone = {
    url,
    authUrl: `${url}/v3`,
    client,
    adminToken,
    async createProject(prefix = 'proj') {
      const name = unique(prefix);
      const { body } = await client.request<{ project: TestProject }>('POST', '/projects', {
        token: await adminToken(),
        body: { project: { name, domain_id: 'default', description: 'made by a Pratai test; deleted at its end' } },
      });
      made.projects.push(body.project.id);
      return { id: body.project.id, name };
    },
    async createUser(project, role, prefix = role) {
      const name = unique(prefix);
      const password = randomBytes(12).toString('hex');
      const { body } = await client.request<{ user: { id: string } }>('POST', '/users', {
        token: await adminToken(),
        body: { user: { name, password, domain_id: 'default', default_project_id: project.id } },
      });
      made.users.push(body.user.id);
      await grantRole(body.user, project, role);
      return { id: body.user.id, name, password, project, role };
    },
    grantRole,
    tokenFor: (user, project = user.project) => client.issueToken({ method: 'password', userId: user.id, password: user.password, scope: { projectId: project.id } }),
    revoke: (token) => client.revokeToken(token),
    async createApplicationCredential(user) {
      const token = await keystone.tokenFor(user);
      const { body } = await client.request<{ application_credential: { id: string; secret: string } }>('POST', `/users/${user.id}/application_credentials`, {
        token: token.token,
        body: { application_credential: { name: unique('appcred') } },
      });
      return { id: body.application_credential.id, secret: body.application_credential.secret };
    },
    authtokenOverrides: (extra = {}) => ({
      auth_url: `${url}/v3`,
      auth_type: 'password',
      username: KEYSTONE_SERVICE_USER.username,
      password: KEYSTONE_SERVICE_USER.password,
      user_domain_name: KEYSTONE_SERVICE_USER.domain,
      project_name: KEYSTONE_SERVICE_USER.projectName,
      project_domain_name: KEYSTONE_SERVICE_USER.domain,
      ...extra,
    }),
    async startShortLivedIssuer(seconds) {
      const extraConf = join(STATE, `short-${process.pid}-${randomBytes(4).toString('hex')}.conf`);
      writeFileSync(extraConf, `[token]\nexpiration = ${seconds}\n`);
      const shortPort = await freePort();
      const child = await serve(shortPort, `${CONF};${extraConf}`);
      return {
        client: new KeystoneClient({ authUrl: `http://127.0.0.1:${shortPort}/v3` }),
        close: async () => {
          await stopProcess(child);
          rmSync(extraConf, { force: true });
        },
      };
    },
    async stop() {
      const running = server;
      server = undefined;
      if (running) await stopProcess(running);
    },
    async start() {
      server ??= await serve(port, CONF);
    },
    async close() {
      try {
        if (server === undefined) server = await serve(port, CONF);
        const token = await adminToken();
        for (const id of made.users) await client.request('DELETE', `/users/${id}`, { token }).catch(() => undefined);
        for (const id of made.projects) {
          await client.request('PATCH', `/projects/${id}`, { token, body: { project: { enabled: false } } }).catch(() => undefined);
          await client.request('DELETE', `/projects/${id}`, { token }).catch(() => undefined);
        }
      } finally {
        await keystone.stop();
      }
    },
  };
  return keystone;
}

// ---------------------------------------------------------------------------------------------
// Setting Keystone up once per machine

function keystoneConf(): string {
  return `# Made by Pratai's test helper (test/helpers/keystone.ts); remade when it changes.
[DEFAULT]
log_file = ${LOG}
[database]
connection = postgresql+psycopg2://${DB}:${DB_PASSWORD}@127.0.0.1:5432/${DB}
[token]
provider = fernet
[fernet_tokens]
key_repository = ${join(STATE, 'fernet-keys')}
[credential]
key_repository = ${join(STATE, 'credential-keys')}
[identity]
# bcrypt's cheapest cost: a test user's password check costs milliseconds, not a quarter second.
password_hash_rounds = 4
`;
}

const setupStamp = (): string => createHash('sha256').update(`${SETUP_VERSION}\n${keystoneConf()}`).digest('hex');

/** Installs Keystone when missing and sets up its database, keys and bootstrap once per machine. */
async function ensureKeystoneReady(): Promise<void> {
  installKeystoneWhenMissing();
  const postgres = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'postgres' });
  await postgres.connect().catch((error: Error) => {
    throw new Error(`The test Keystone needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust): ${error.message}`);
  });
  // Set up when this machine's stamp is missing or stale, or its database went away.
  const ready = async (): Promise<boolean> =>
    existsSync(STAMP) && readFileSync(STAMP, 'utf8') === setupStamp() && (await postgres.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB])).rowCount === 1;
  try {
    if (await ready()) return;
    // Another test process may be setting it up right now: wait for it, then look again.
    await postgres.query("SELECT pg_advisory_lock(hashtext('pratai-keystone-test'))");
    if (await ready()) return;
    rmSync(STATE, { recursive: true, force: true });
    mkdirSync(STATE, { recursive: true });
    writeFileSync(CONF, keystoneConf());
    await postgres.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
    await postgres.query(`DROP ROLE IF EXISTS ${DB}`);
    await postgres.query(`CREATE ROLE ${DB} LOGIN PASSWORD '${DB_PASSWORD}'`);
    await postgres.query(`CREATE DATABASE ${DB} OWNER ${DB}`);
    const manage = (...args: string[]): void => run('keystone-manage', ['--config-file', CONF, ...args]);
    manage('db_sync');
    manage('fernet_setup', '--keystone-user', 'root', '--keystone-group', 'root');
    manage('credential_setup', '--keystone-user', 'root', '--keystone-group', 'root');
    manage(
      'bootstrap',
      '--bootstrap-password', KEYSTONE_ADMIN.password,
      '--bootstrap-username', KEYSTONE_ADMIN.username,
      '--bootstrap-project-name', KEYSTONE_ADMIN.projectName,
      // Each test file serves Keystone on a port of its own; this catalog entry names none of them.
      '--bootstrap-public-url', 'http://127.0.0.1:5000/v3/',
      '--bootstrap-region-id', 'RegionOne',
    );
    await createServiceUser();
    writeFileSync(STAMP, setupStamp());
  } finally {
    await postgres.end();
  }
}

/** The `service` role, the `service` project and Pratai's service user in it. */
async function createServiceUser(): Promise<void> {
  const port = await freePort();
  const server = await serve(port, CONF);
  try {
    const client = new KeystoneClient({ authUrl: `http://127.0.0.1:${port}` });
    const { token } = await client.issueToken(
      { method: 'password', username: KEYSTONE_ADMIN.username, password: KEYSTONE_ADMIN.password, scope: { projectName: KEYSTONE_ADMIN.projectName } },
      { catalog: false },
    );
    const role = await client.request<{ role: { id: string } }>('POST', '/roles', { token, body: { role: { name: 'service' } } });
    const project = await client.request<{ project: { id: string } }>('POST', '/projects', {
      token,
      body: { project: { name: KEYSTONE_SERVICE_USER.projectName, domain_id: 'default' } },
    });
    const user = await client.request<{ user: { id: string } }>('POST', '/users', {
      token,
      body: { user: { name: KEYSTONE_SERVICE_USER.username, password: KEYSTONE_SERVICE_USER.password, domain_id: 'default' } },
    });
    await client.request('PUT', `/projects/${project.body.project.id}/users/${user.body.user.id}/roles/${role.body.role.id}`, { token });
  } finally {
    await stopProcess(server);
  }
}

function installKeystoneWhenMissing(): void {
  if (spawnSync('sh', ['-c', 'command -v keystone-wsgi-public && command -v keystone-manage && /usr/bin/python3 -c "import psycopg2"'], { stdio: 'ignore' }).status === 0) return;
  process.stderr.write('# installing Keystone from Debian packages for the tests (about 40 s)\n');
  const install = (): number | null =>
    // Another test process may be installing it too: wait for dpkg's lock rather than fail.
    spawnSync('apt-get', ['install', '-y', '-q', '-o', 'DPkg::Lock::Timeout=300', '--no-install-recommends', 'keystone', 'python3-psycopg2'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status;
  if (install() === 0) return;
  // A machine whose package lists were never fetched finds nothing to install.
  run('apt-get', ['update', '-q']);
  if (install() !== 0) throw new Error('Could not install Keystone (apt-get install keystone python3-psycopg2)');
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status ?? result.signal}):\n${result.stderr}${result.stdout}`);
}

// ---------------------------------------------------------------------------------------------
// Serving

/**
 * Runs a command that the kernel stops (SIGTERM) when the process that started it dies, however it
 * dies: a test process killed by a signal or a timeout leaves no Keystone behind.
 */
const DIE_WITH_PARENT = `
import ctypes, os, signal, sys
PR_SET_PDEATHSIG = 1
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
if os.getppid() == 1:
    sys.exit(1)
os.execvp(sys.argv[1], sys.argv[1:])
`;

/** Starts keystone-wsgi-public on `port` and waits until it answers. `confFiles` is `;`-separated. */
async function serve(port: number, confFiles: string): Promise<ChildProcess> {
  const verbose = Boolean(process.env.PRATAI_TEST_KEYSTONE_LOG);
  const child = spawn('/usr/bin/python3', ['-c', DIE_WITH_PARENT, 'keystone-wsgi-public', '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, OS_KEYSTONE_CONFIG_FILES: confFiles },
    stdio: ['ignore', verbose ? 'inherit' : 'ignore', verbose ? 'inherit' : 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  // A test file that forgets close() must still end: the server does not hold the event loop,
  // and the exit handler below kills it.
  child.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  let exited = false;
  running.add(child);
  child.once('exit', () => {
    exited = true;
    running.delete(child);
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`keystone-wsgi-public on port ${port} exited at start:\n${stderr}`);
    const up = await fetch(`http://127.0.0.1:${port}/v3`, { signal: AbortSignal.timeout(2_000) }).then(
      (response) => response.ok,
      () => false,
    );
    if (up) return child;
    if (Date.now() > deadline) {
      await stopProcess(child);
      throw new Error(`keystone-wsgi-public did not answer on port ${port} within 60 s:\n${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Servers still running: killed if the test process exits without closing them. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
