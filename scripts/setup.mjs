#!/usr/bin/env node
// Gets a machine ready to run Pratai: Node dependencies and build, a Docker engine, and the
// runtime images; with --for-tests (`npm test`), also the local services the tests use
// (PostgreSQL, MariaDB, RabbitMQ), started when installed and stopped, and the programs they
// drive (Prometheus, Chromium, OpenStack Swift, ZooKeeper and kazoo) from Debian's packages. Runs before `npm start`
// and `npm test`, so it is plain Node
// with no npm dependencies: it must work before `npm ci` has run.
//
// Idempotent and quiet: it prints one line per step it actually performs, and nothing when all is
// in place. It exits non-zero with a message saying what is missing when it cannot go on.
//
// Environment (all optional):
//   PRATAI_PYTHON3_BASE_IMAGE    the image to build pratai/runtime-python3 FROM; when unset, a local
//                                Debian-made base, else python:3.11-slim if it can be pulled, else a
//                                Debian base made here with debootstrap.
//   PRATAI_PYTHON3_DEBIAN_IMAGE  the name of that Debian-made base (default pratai/base-python3:bookworm).
//
// `ensureRuntimeImages()` (Docker engine, base image, runtime image) is exported for code that
// needs the images without the Node steps.

import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
// Where TypeScript sources live when tsconfig.json's `include` cannot be read.
const DEFAULT_TS_SOURCE_DIRS = ['common', 'api', 'runner', 'cli', 'bin'];
const BUILD_STAMP = join(ROOT, 'dist', '.setup-build-stamp');

const RUNTIME_IMAGE = 'pratai/runtime-python3:latest';
const RUNTIME_DIR = join(ROOT, 'runtimes', 'python3');
const PUBLIC_BASE_IMAGE = 'python:3.11-slim';
const DEFAULT_DEBIAN_BASE_IMAGE = 'pratai/base-python3:bookworm';
const DEBIAN_SUITE = 'bookworm';
const SOURCE_LABEL = 'pratai.runtime.sha256';
const BASE_LABEL = 'pratai.runtime.base';

const DOCKERD_LOG = '/var/log/pratai-dockerd.log';
const DOCKERD_START_TIMEOUT_MS = 60_000;
const PULL_TIMEOUT_MS = 60_000;
const PROGRESS_INTERVAL_MS = 5_000;

export class SetupError extends Error {
  name = 'SetupError';
}

// ---------------------------------------------------------------------------------------------
// Processes

/**
 * Runs a command. With `inherit`, its output goes to the terminal; otherwise it is collected and
 * returned (and shown by the caller on failure). Never rejects: check `code`.
 * @returns {Promise<{code: number | null, stdout: string, stderr: string, timedOut: boolean, spawnError?: Error}>}
 */
function run(command, args, { inherit = false, timeoutMs = 0, env, input } = {}) {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: ROOT,
      env: env ? { ...process.env, ...env } : process.env,
      stdio: [input === undefined ? 'ignore' : 'pipe', inherit ? 'inherit' : 'pipe', inherit ? 'inherit' : 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout?.on('data', (chunk) => { stdout = keepTail(stdout + chunk); });
    child.stderr?.on('data', (chunk) => { stderr = keepTail(stderr + chunk); });
    if (input !== undefined) child.stdin.end(input);
    const timer = timeoutMs > 0 ? setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs) : undefined;
    child.on('error', (spawnError) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr, timedOut, spawnError });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

/** Keeps the last 64 KiB of a command's output: enough to explain a failure. */
function keepTail(text) {
  return text.length > 65_536 ? text.slice(-65_536) : text;
}

function tail(text, lines = 20) {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function failure(what, result) {
  if (result.spawnError) return new SetupError(`${what}: ${result.spawnError.message}`);
  const why = result.timedOut ? 'timed out' : `exited with code ${result.code}`;
  const output = tail(`${result.stdout}\n${result.stderr}`);
  return new SetupError(`${what} ${why}${output ? `:\n${output}` : ''}`);
}

function onPath(command) {
  return (process.env.PATH ?? '').split(':').some((dir) => dir && existsSync(join(dir, command)));
}

const isRoot = () => process.getuid?.() === 0;

// ---------------------------------------------------------------------------------------------
// Output: one line per step performed, dots while a long one runs.

/** Announces a step, prints a dot every few seconds while it runs, then how long it took. */
async function step(title, action) {
  const started = Date.now();
  process.stdout.write(`pratai setup: ${title}`);
  const dots = setInterval(() => process.stdout.write('.'), PROGRESS_INTERVAL_MS);
  try {
    const value = await action();
    // An action may report an outcome other than "done" (a pull that found no registry).
    const outcome = typeof value?.outcome === 'string' ? value.outcome : 'done';
    process.stdout.write(` ${outcome} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
    return value;
  } catch (error) {
    process.stdout.write(' failed\n');
    throw error;
  } finally {
    clearInterval(dots);
  }
}

/** For steps whose command writes to the terminal itself (npm): a line before, one after. */
async function loudStep(title, action) {
  const started = Date.now();
  console.log(`pratai setup: ${title}`);
  await action();
  console.log(`pratai setup: ${title}: done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

// ---------------------------------------------------------------------------------------------
// a. Node dependencies and the TypeScript build

function mtimeMs(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Newest modification time among files under dir whose names pass `keep`; 0 when none. */
function newestMtime(dir, keep) {
  let newest = 0;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const entry of entries) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path, keep));
    else if (entry.isFile() && keep(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/** The TypeScript build and the console's bundle (`npm run build`), redone when a source changed. */
async function ensureNodeDependencies() {
  const installed = mtimeMs(join(ROOT, 'node_modules', '.package-lock.json'));
  const locked = mtimeMs(join(ROOT, 'package-lock.json'));
  if (locked === undefined) throw new SetupError('package-lock.json is missing: run `npm install` once to create it');
  if (installed === undefined || installed < locked) {
    // `npm ci` runs `prepare`, which builds the TypeScript too.
    await loudStep('installing Node dependencies (npm ci)', async () => {
      const result = await run('npm', ['ci'], { inherit: true });
      if (result.code !== 0) throw failure('`npm ci`', result);
    });
    markBuilt();
    return;
  }
  const isTs = (name) => name.endsWith('.ts') && !name.endsWith('.d.ts');
  const newestSource = Math.max(
    ...typescriptSourceDirs().map((dir) => newestMtime(join(ROOT, dir), isTs)),
    mtimeMs(join(ROOT, 'tsconfig.json')) ?? 0,
    // The console's sources and its bundler: `npm run build` bundles them too.
    newestMtime(join(ROOT, 'console'), () => true),
    mtimeMs(join(ROOT, 'scripts', 'build-console.mjs')) ?? 0,
  );
  if (newestSource > 0 && (mtimeMs(BUILD_STAMP) ?? 0) < newestSource) {
    await loudStep('building TypeScript (npm run build)', async () => {
      const result = await run('npm', ['run', 'build'], { inherit: true });
      if (result.code !== 0) throw failure('`npm run build`', result);
    });
    markBuilt();
  }
}

/** The folders tsconfig.json compiles (its `include`), so a new folder needs no change here. */
function typescriptSourceDirs() {
  try {
    const { include } = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8'));
    if (Array.isArray(include) && include.every((entry) => typeof entry === 'string')) {
      return include.map((entry) => entry.replace(/\/?\*.*$/, '')).filter(Boolean);
    }
  } catch {
    // tsconfig.json with comments, or none: fall back to the usual folders
  }
  return DEFAULT_TS_SOURCE_DIRS;
}

/**
 * Records a successful build. dist/ alone cannot say so: tsc writes its output even when type
 * checking fails, and a failed build must be tried (and fail loudly) again on the next run.
 */
function markBuilt() {
  mkdirSync(dirname(BUILD_STAMP), { recursive: true });
  writeFileSync(BUILD_STAMP, `${new Date().toISOString()}\n`);
}

// ---------------------------------------------------------------------------------------------
// b. Docker engine

async function dockerIsUp() {
  const result = await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeoutMs: 15_000 });
  return result.code === 0;
}

function dockerdPidAlive() {
  try {
    const pid = Number(readFileSync('/var/run/docker.pid', 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0) return false;
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function aptInstall(packages) {
  if (!isRoot()) {
    throw new SetupError(`${packages.join(', ')} missing: install the Debian package(s) as root (apt-get install -y ${packages.join(' ')}) and run again`);
  }
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  await step(`installing ${packages.join(', ')} (apt-get)`, async () => {
    const update = await run('apt-get', ['update'], { env });
    if (update.code !== 0) throw failure('`apt-get update`', update);
    const install = await run('apt-get', ['install', '-y', '--no-install-recommends', ...packages], { env });
    if (install.code !== 0) throw failure(`\`apt-get install ${packages.join(' ')}\``, install);
  });
}

async function waitForDocker(started, exited) {
  let why = `did not answer \`docker info\` within ${DOCKERD_START_TIMEOUT_MS / 1000} s`;
  while (Date.now() - started < DOCKERD_START_TIMEOUT_MS) {
    if (await dockerIsUp()) return;
    if (exited?.()) {
      why = 'exited while starting';
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  let log = '';
  if (exited) {
    try {
      log = tail(readFileSync(DOCKERD_LOG, 'utf8'));
    } catch {
      // no log to show
    }
  }
  throw new SetupError(`the Docker engine (dockerd) ${why}${log ? `; last lines of ${DOCKERD_LOG}:\n${log}` : ''}`);
}

async function ensureDocker() {
  if (await dockerIsUp()) return;
  if (!onPath('dockerd') || !onPath('docker')) await aptInstall(['docker.io']); // Debian's package name
  if (dockerdPidAlive()) {
    // Someone else's dockerd is starting up: wait for it rather than start a second one.
    await step('waiting for the Docker engine', () => waitForDocker(Date.now()));
    return;
  }
  if (!isRoot()) throw new SetupError('the Docker engine is not running: start dockerd as root (or give this user access to a running one) and run again');
  await step(`starting the Docker engine (log: ${DOCKERD_LOG})`, async () => {
    const log = openSync(DOCKERD_LOG, 'a');
    let hasExited = false;
    try {
      const daemon = spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] });
      daemon.on('exit', () => { hasExited = true; });
      daemon.on('error', () => { hasExited = true; });
      daemon.unref();
    } finally {
      closeSync(log);
    }
    await waitForDocker(Date.now(), () => hasExited);
  });
}

// ---------------------------------------------------------------------------------------------
// c. Base image

async function imageId(name) {
  const result = await run('docker', ['image', 'inspect', '--format', '{{.Id}}', name]);
  return result.code === 0 ? result.stdout.trim() : undefined;
}

async function ensureBaseImage() {
  const configured = process.env.PRATAI_PYTHON3_BASE_IMAGE;
  if (configured) return configured;
  const debianBase = process.env.PRATAI_PYTHON3_DEBIAN_IMAGE || DEFAULT_DEBIAN_BASE_IMAGE;
  if (await imageId(debianBase)) return debianBase;
  if (await imageId(PUBLIC_BASE_IMAGE)) return PUBLIC_BASE_IMAGE;

  const pull = await step(`pulling ${PUBLIC_BASE_IMAGE}`, async () => {
    const result = await run('docker', ['pull', PUBLIC_BASE_IMAGE], { timeoutMs: PULL_TIMEOUT_MS });
    if (result.code === 0) return { ok: true };
    return { ok: false, outcome: result.timedOut ? 'timed out' : 'not reachable' };
  });
  if (pull.ok) return PUBLIC_BASE_IMAGE;
  console.log(`pratai setup: making ${debianBase} from Debian packages instead`);
  await buildDebianBase(debianBase);
  return debianBase;
}

async function buildDebianBase(name) {
  if (!isRoot()) throw new SetupError(`no base image for the python3 runtime: building ${name} with debootstrap needs root (or set PRATAI_PYTHON3_BASE_IMAGE to an image with python3 and pip)`);
  if (!onPath('debootstrap')) await aptInstall(['debootstrap']);
  const dir = await mkdtemp(join(tmpdir(), 'pratai-base-'));
  try {
    await step(`making a Debian ${DEBIAN_SUITE} root with python3 (debootstrap, about a minute)`, async () => {
      // No mirror argument: debootstrap's default mirror.
      const result = await run('debootstrap', ['--variant=minbase', '--include=python3,python3-pip', DEBIAN_SUITE, dir]);
      if (result.code !== 0) throw failure('`debootstrap`', result);
      // Downloaded packages and indexes are of no use in an image: about 90 MB.
      await rm(join(dir, 'var', 'cache', 'apt', 'archives'), { recursive: true, force: true });
      await rm(join(dir, 'var', 'lib', 'apt', 'lists'), { recursive: true, force: true });
    });
    await step(`importing it as ${name}`, () => importRootfs(dir, name));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** `tar -C dir -c . | docker import - name`, checking both ends of the pipe. */
function importRootfs(dir, name) {
  return new Promise((resolve, reject) => {
    const tar = spawn('tar', ['-C', dir, '-c', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const importer = spawn('docker', ['import', '-', name], { stdio: ['pipe', 'pipe', 'pipe'] });
    let errors = '';
    tar.stderr.on('data', (chunk) => { errors = keepTail(errors + chunk); });
    importer.stderr.on('data', (chunk) => { errors = keepTail(errors + chunk); });
    importer.stdout.resume();
    tar.stdout.pipe(importer.stdin);
    const codes = new Map();
    const settle = (which, code) => {
      codes.set(which, code);
      if (codes.size < 2) return;
      if (codes.get('tar') === 0 && codes.get('import') === 0) resolve();
      else reject(new SetupError(`importing ${dir} as ${name} failed (tar ${codes.get('tar')}, docker import ${codes.get('import')}):\n${tail(errors)}`));
    };
    tar.on('error', (error) => settle('tar', error.message));
    importer.on('error', (error) => settle('import', error.message));
    tar.on('close', (code) => settle('tar', code));
    importer.on('close', (code) => settle('import', code));
  });
}

// ---------------------------------------------------------------------------------------------
// d. Runtime image

/** sha256 over the runtime folder's files: their paths and contents, in a stable order. */
export function runtimeSourceSha256(dir = RUNTIME_DIR) {
  const files = [];
  const walk = (current) => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      if (entry.name === '__pycache__' || entry.name.endsWith('.pyc')) continue;
      const path = join(current, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile()) files.push(path);
    }
  };
  walk(dir);
  const hash = createHash('sha256');
  for (const path of files.map((file) => relative(dir, file)).sort()) {
    const content = readFileSync(join(dir, path));
    hash.update(`${path}\0${content.length}\0`);
    hash.update(content);
  }
  return hash.digest('hex');
}

async function imageLabels(name) {
  const result = await run('docker', ['image', 'inspect', '--format', '{{json .Config.Labels}}', name]);
  if (result.code !== 0) return undefined;
  try {
    return JSON.parse(result.stdout) ?? {};
  } catch {
    return {};
  }
}

async function ensureRuntimeImage(base) {
  const sourceSha = runtimeSourceSha256();
  // The base's id, so that a new base (or another one) rebuilds the runtime; its name when it
  // is not local (docker build pulls it).
  const baseRef = (await imageId(base)) ?? base;
  const labels = await imageLabels(RUNTIME_IMAGE);
  if (labels && labels[SOURCE_LABEL] === sourceSha && labels[BASE_LABEL] === baseRef) return;
  const why = !labels ? 'missing' : labels[SOURCE_LABEL] !== sourceSha ? 'runtimes/python3 changed' : 'its base changed';
  await step(`building ${RUNTIME_IMAGE} on ${base} (${why})`, async () => {
    const result = await run('docker', [
      'build', '-t', RUNTIME_IMAGE,
      '--build-arg', `BASE=${base}`,
      '--label', `${SOURCE_LABEL}=${sourceSha}`,
      '--label', `${BASE_LABEL}=${baseRef}`,
      RUNTIME_DIR,
    ]);
    if (result.code !== 0) throw failure(`\`docker build\` of ${RUNTIME_IMAGE}`, result);
  });
}

/** Steps b–d: a running Docker engine, a python3 base image and an up-to-date runtime image. */
export async function ensureRuntimeImages() {
  await ensureDocker();
  const base = await ensureBaseImage();
  await ensureRuntimeImage(base);
}

// ---------------------------------------------------------------------------------------------
// e. The local services the tests use (--for-tests)

const SERVICE_START_TIMEOUT_MS = 120_000;

/**
 * As the tests expect them (test/helpers/databases.ts, test/helpers/keystone.ts, the RabbitMQ
 * tests): on loopback, PostgreSQL with trust for `postgres`, MariaDB with `root` and no password,
 * RabbitMQ with guest/guest. Installing and configuring them is the machine's business: a service
 * that is installed but stopped is started, one that is missing is named with how to get it.
 */
const TEST_SERVICES = [
  { name: 'PostgreSQL', port: 5432, installed: '/usr/bin/pg_ctlcluster', start: ['sh', '-c', 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n 1) main start'], packages: 'postgresql' },
  { name: 'MariaDB', port: 3306, installed: '/usr/sbin/mariadbd', start: ['start-stop-daemon', '--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd'], packages: 'mariadb-server' },
  { name: 'RabbitMQ', port: 5672, installed: '/usr/sbin/rabbitmq-server', start: ['rabbitmq-server', '-detached'], packages: 'rabbitmq-server' },
];

/** Whether something accepts connections on 127.0.0.1:`port`. */
function listening(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2_000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Debian packages of services the tests start themselves, on free ports of their own
 * (test/helpers/swift.ts, test/helpers/zookeeper.ts): installed when missing, never started here.
 */
const TEST_PACKAGES = [
  {
    name: 'OpenStack Swift (object storage with its S3 API, for the workflow tests)',
    installed: ['/usr/bin/swift-proxy-server', '/usr/bin/swift-object-server', '/usr/bin/swift-container-server', '/usr/bin/swift-account-server', '/usr/bin/memcached'],
    packages: ['swift-proxy', 'swift-object', 'swift-container', 'swift-account', 'memcached'],
  },
  {
    name: 'ZooKeeper and kazoo (the reference for the coordination tests, test/helpers/zookeeper.ts)',
    installed: ['/usr/share/java/zookeeper.jar', '/usr/lib/python3/dist-packages/kazoo'],
    packages: ['zookeeper', 'python3-kazoo'],
  },
];

async function ensureTestPackages() {
  for (const entry of TEST_PACKAGES) {
    if (entry.installed.every((path) => existsSync(path))) continue;
    if (!isRoot()) {
      console.warn(`pratai setup: ${entry.name} is not installed; the tests that use it will fail (install it: apt-get install -y --no-install-recommends ${entry.packages.join(' ')})`);
      continue;
    }
    await aptInstall(entry.packages);
  }
}

async function ensureTestServices() {
  await ensureTestPackages();
  for (const service of TEST_SERVICES) {
    if (await listening(service.port)) continue;
    if (!existsSync(service.installed) || !isRoot()) {
      console.warn(`pratai setup: ${service.name} is not listening on 127.0.0.1:${service.port}; the tests that use it will fail (install it: apt-get install ${service.packages}, then start it)`);
      continue;
    }
    await step(`starting ${service.name}`, async () => {
      // Its daemon keeps whatever output it was given: none, and the exit of the command that
      // started it is what is waited for.
      const [command, ...args] = service.start;
      const starter = spawn(command, args, { cwd: ROOT, stdio: 'ignore', detached: true });
      const code = await new Promise((resolve) => {
        starter.once('error', () => resolve(null));
        starter.once('exit', resolve);
      });
      if (code !== 0) throw new SetupError(`\`${service.start.join(' ')}\` exited ${code ?? 'without starting'}`);
      const deadline = Date.now() + SERVICE_START_TIMEOUT_MS;
      while (!(await listening(service.port))) {
        if (Date.now() > deadline) throw new SetupError(`${service.name} did not listen on 127.0.0.1:${service.port} within ${SERVICE_START_TIMEOUT_MS / 1000} s of being started`);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    });
  }
}

/**
 * Programs the tests drive, from Debian's packages: a real Prometheus (and its promtool) scraping
 * the platform, and a headless Chromium for the console's browser tests (never a browser build
 * downloaded by a test library).
 */
const TEST_PROGRAMS = [
  { commands: ['prometheus', 'promtool'], package: 'prometheus' },
  { commands: ['chromium'], package: 'chromium' },
];

async function ensureTestPrograms() {
  const missing = TEST_PROGRAMS.filter((program) => !program.commands.every(onPath)).map((program) => program.package);
  if (missing.length > 0) await aptInstall(missing);
}

// ---------------------------------------------------------------------------------------------

const USAGE = 'usage: node scripts/setup.mjs [--for-tests]';

async function main(argv) {
  let forTests = false;
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      return;
    }
    if (arg === '--for-tests') {
      forTests = true;
      continue;
    }
    throw new SetupError(`unknown argument ${JSON.stringify(arg)}\n${USAGE}`);
  }
  await ensureNodeDependencies();
  await ensureRuntimeImages();
  if (forTests) {
    await ensureTestServices();
    await ensureTestPrograms();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).catch((error) => {
    const message = error instanceof SetupError ? error.message : (error?.stack ?? String(error));
    console.error(`pratai setup failed: ${message}`);
    process.exit(1);
  });
}
