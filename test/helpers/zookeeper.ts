/**
 * A real ZooKeeper for a test file or the bench: a standalone server from Debian's `zookeeper`
 * package on a free loopback port, its data in a folder of its own, driven through kazoo
 * (Debian's `python3-kazoo`). `scripts/setup.mjs --for-tests` installs both; the bench installs
 * them when missing (`installZooKeeper`). It starts in a few seconds; `stop` ends it and removes
 * its folder, and so does the end of the process that started it, however that process ends.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from './processes.js';

const execFileAsync = promisify(execFile);

export const ZOOKEEPER_PACKAGES = ['zookeeper', 'python3-kazoo'];
/** The Debian python that has kazoo (the first python3 on PATH may be another). */
export const PYTHON = '/usr/bin/python3';
const ZOOKEEPER_JAR = '/usr/share/java/zookeeper.jar';
const CLASSPATH = `${ZOOKEEPER_JAR}:/usr/share/java/slf4j-simple.jar`;
const START_TIMEOUT_MS = 60_000;

export interface ZooKeeper {
  /** Its client port on 127.0.0.1. */
  port: number;
  /** Ends the server and removes its folder; safe to call twice. */
  stop(): Promise<void>;
}

/** What of ZooKeeper and kazoo is missing; undefined when both are installed. */
export async function zooKeeperMissing(): Promise<string | undefined> {
  if (!existsSync(ZOOKEEPER_JAR)) return `${ZOOKEEPER_JAR} is missing`;
  const kazoo = await execFileAsync(PYTHON, ['-c', 'import kazoo']).then(() => true, () => false);
  return kazoo ? undefined : `kazoo is missing for ${PYTHON}`;
}

/**
 * Installs ZooKeeper and kazoo from Debian's packages when missing (`installing` is told first);
 * the reason they cannot be had, or undefined.
 */
export async function installZooKeeper(installing: () => void = () => undefined): Promise<string | undefined> {
  if ((await zooKeeperMissing()) === undefined) return undefined;
  installing();
  const options = { timeout: 180_000, env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } };
  try {
    await execFileAsync('apt-get', ['update'], options);
    await execFileAsync('apt-get', ['install', '-y', '--no-install-recommends', ...ZOOKEEPER_PACKAGES], options);
  } catch (error) {
    return `apt-get install ${ZOOKEEPER_PACKAGES.join(' ')} failed: ${(error as Error).message.split('\n')[0]}`;
  }
  const missing = await zooKeeperMissing();
  return missing === undefined ? undefined : `${missing} still, after apt-get install`;
}

const listening = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });

/**
 * The server runs under a shell that holds the read end of a pipe from this process: when this
 * process closes it (`stop`) or ends (even by SIGKILL, as a test runner's time-out does), the
 * shell stops ZooKeeper (SIGKILL after 5 s) and removes its folder. No server outlives its test.
 */
const GUARD = `
java -Xmx256m -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$1" org.apache.zookeeper.server.quorum.QuorumPeerMain "$2/zoo.cfg" </dev/null &
zk=$!
cat >/dev/null
kill $zk 2>/dev/null
( sleep 5; kill -9 $zk 2>/dev/null ) &
killer=$!
wait $zk
kill $killer 2>/dev/null
rm -rf "$2"
`;

/** Starts a standalone ZooKeeper on a free loopback port and waits until it listens. */
export async function startZooKeeper(): Promise<ZooKeeper> {
  const missing = await zooKeeperMissing();
  if (missing !== undefined) throw new Error(`ZooKeeper cannot start: ${missing} (apt-get install -y --no-install-recommends ${ZOOKEEPER_PACKAGES.join(' ')}; scripts/setup.mjs --for-tests does)`);
  const dir = mkdtempSync(join(tmpdir(), 'pratai-zk-'));
  const port = await freePort();
  writeFileSync(join(dir, 'zoo.cfg'), `tickTime=2000\ndataDir=${join(dir, 'data')}\nclientPort=${port}\nclientPortAddress=127.0.0.1\nadmin.enableServer=false\n`);
  const guard = spawn('sh', ['-c', GUARD, 'zookeeper-guard', CLASSPATH, dir], { cwd: dir, stdio: ['pipe', 'ignore', 'pipe'] });
  let output = '';
  guard.stderr.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4096)));
  const exited = once(guard, 'exit');
  const stop = async (): Promise<void> => {
    if (guard.exitCode === null && guard.signalCode === null) {
      guard.stdin.end();
      await exited;
    }
  };
  try {
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!(await listening(port))) {
      if (guard.exitCode !== null) throw new Error(`ZooKeeper exited while starting:\n${output}`);
      if (Date.now() > deadline) throw new Error(`ZooKeeper did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS / 1000} s:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return { port, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
