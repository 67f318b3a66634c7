/**
 * A real OpenStack Swift for a test file: one replica on a folder of its own, memcached and the
 * account, container, object and proxy servers on free loopback ports, the proxy with its S3 API
 * (s3api) and tempauth (user test:tester, key testing). Debian's packages (swift-proxy,
 * swift-object, swift-container, swift-account, memcached): `scripts/setup.mjs --for-tests`
 * installs them. Starts in a few seconds; `stop` kills every process and removes the folder.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SWIFT_PACKAGES = ['swift-proxy', 'swift-object', 'swift-container', 'swift-account', 'memcached'];
/** The Debian python the swift-* programs use (the first python3 on PATH may be another). */
const PYTHON = '/usr/bin/python3';

export interface Swift {
  /** The S3 API's endpoint. */
  endpoint: string;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
}

export const swiftInstalled = (): boolean => existsSync('/usr/bin/swift-proxy-server') && existsSync('/usr/bin/memcached');

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const common = (dir: string, port: number): string =>
  `[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = ${port}\nworkers = 0\nuser = root\nswift_dir = ${dir}\ndevices = ${join(dir, 'devices')}\nmount_check = false\ndisable_fallocate = true\nlog_name = swift\nlog_level = WARNING\n`;

export async function startSwift(): Promise<Swift> {
  if (!swiftInstalled()) throw new Error(`OpenStack Swift is not installed: apt-get install -y --no-install-recommends ${SWIFT_PACKAGES.join(' ')} (scripts/setup.mjs --for-tests does)`);
  const dir = mkdtempSync(join(tmpdir(), 'pratai-swift-'));
  mkdirSync(join(dir, 'devices', 'd1'), { recursive: true });
  const [account, container, object, proxy, memcached] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
  writeFileSync(join(dir, 'swift.conf'), `[swift-hash]\nswift_hash_path_suffix = pratai-test\nswift_hash_path_prefix = pratai-test\n\n[storage-policy:0]\nname = gold\ndefault = yes\n`);
  for (const [kind, port] of [['account', account], ['container', container], ['object', object]] as const) {
    writeFileSync(join(dir, `${kind}-server.conf`), `${common(dir, port)}\n[pipeline:main]\npipeline = ${kind}-server\n\n[app:${kind}-server]\nuse = egg:swift#${kind}\n\n[${kind}-replicator]\n\n[${kind}-updater]\n\n[${kind}-auditor]\n${kind === 'container' ? '\n[container-sync]\n' : ''}`);
  }
  writeFileSync(
    join(dir, 'proxy-server.conf'),
    `${common(dir, proxy)}
[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk s3api tempauth copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
account_autocreate = true

[filter:s3api]
use = egg:swift#s3api
location = us-east-1

[filter:tempauth]
use = egg:swift#tempauth
user_test_tester = testing .admin

[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:${memcached}
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
[filter:symlink]
use = egg:swift#symlink
`,
  );
  // Rings built in Python: swift-ring-builder takes seconds more for the same.
  const ringScript = `
from swift.common.ring import RingBuilder
import sys
d = sys.argv[1]
for kind, port in (('account', ${account}), ('container', ${container}), ('object', ${object})):
    b = RingBuilder(6, 1, 1)
    b.add_dev({'id': 0, 'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': port, 'device': 'd1', 'weight': 100, 'replication_ip': '127.0.0.1', 'replication_port': port, 'meta': ''})
    b.rebalance()
    b.get_ring().save('%s/%s.ring.gz' % (d, kind))
`;
  execFileSync(PYTHON, ['-c', ringScript, dir], { stdio: 'pipe' });
  const children: ChildProcess[] = [];
  const start = (command: string, args: string[]): void => {
    const child = spawn(command, args, { stdio: 'ignore', detached: false });
    children.push(child);
  };
  const stop = async (): Promise<void> => {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    start('/usr/bin/memcached', ['-u', 'root', '-l', '127.0.0.1', '-p', String(memcached), '-U', '0', '-m', '16']);
    for (const kind of ['account', 'container', 'object', 'proxy']) start(PYTHON, [`/usr/bin/swift-${kind}-server`, join(dir, `${kind}-server.conf`)]);
    const deadline = Date.now() + 30_000;
    for (const port of [memcached, account, container, object, proxy]) {
      while (!(await listening(port))) {
        if (Date.now() > deadline) throw new Error(`Swift did not listen on 127.0.0.1:${port} within 30 s`);
        if (children.some((child) => child.exitCode !== null)) throw new Error('a Swift server exited while starting');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return { endpoint: `http://127.0.0.1:${proxy}`, accessKey: 'test:tester', secretKey: 'testing', stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
