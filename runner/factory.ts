/** Builds a runner from settings with its real Docker adapter. */
import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { databaseUrl, runnerDeadAfterSeconds, runnerId, type Settings } from '../common/config.js';
import { now } from '../common/ids.js';
import type { Logger } from '../common/log.js';
import type { Metrics } from '../common/metrics.js';
import type { Notifier } from '../common/notifications/notifier.js';
import type { JobQueue } from '../common/queue/queue.js';
import type { Keyring } from '../common/secrets/keyring.js';
import type { Store } from '../common/store/store.js';
import { ContainerPool } from './container-pool.js';
import { DockerContainerRuntime } from './docker-container-runtime.js';
import type { FunctionServices } from './function-services.js';
import { Registration } from './registration.js';
import type { FunctionIdentities } from './run-context.js';
import { Runner } from './runner.js';

/** The limits a function gets by default (api/functions.ts): prewarmed containers start with them, so most need no resize. */
const PREWARM_MEMORY_MIB = 128;
const PREWARM_CPUS = 1;

export function createRunner(settings: Settings, deps: { store: Store; queue: JobQueue; notifier: Notifier; metrics: Metrics; log: Logger; keyring?: Keyring; identities?: FunctionIdentities; services?: FunctionServices }): Runner {
  const { runner, build } = settings;
  const instanceId = randomBytes(16).toString('hex');
  const name = runnerId(settings, instanceId);
  const deadAfterMs = runnerDeadAfterSeconds(settings) * 1000;
  const heartbeatIntervalMs = runner.heartbeat_interval * 1000;
  const registration = new Registration(
    { store: deps.store, log: deps.log },
    { identity: { name, host: hostname(), pid: process.pid, instanceId, startedAt: now() }, heartbeatIntervalMs, deadAfterMs },
  );
  const containers = new DockerContainerRuntime({
    socketPath: runner.docker_socket,
    runnerId: name,
    deployment: deploymentOf(settings),
    network: runner.network,
    pidsLimit: runner.pids_limit,
    tmpfsMiB: runner.tmpfs_size,
    maxLogBytes: runner.max_log_bytes,
    maxResponseBytes: runner.max_response_bytes,
    channelRoot: runner.channel_dir || join(settings.DEFAULT.state_path, 'channels'),
    warn: (message) => deps.log.warning(message),
    build: {
      timeoutMs: build.timeout * 1000,
      network: build.network,
      pipIndexUrl: build.pip_index_url,
      pipExtraIndexUrl: build.pip_extra_index_url,
      pipFindLinks: build.pip_find_links,
      pipNoIndex: build.pip_no_index,
    },
  });
  const pool = new ContainerPool(
    { containers, runtimes: () => deps.store.listRuntimes(), log: deps.log.child('pool'), metrics: deps.metrics },
    {
      size: runner.pool_size,
      containerConcurrency: runner.container_concurrency,
      pauseAfterMs: runner.pool_pause_after * 1000,
      idleTimeoutMs: runner.pool_idle_timeout * 1000,
      prewarm: { perRuntime: runner.prewarm, memoryMiB: PREWARM_MEMORY_MIB, cpus: PREWARM_CPUS },
    },
  );
  return new Runner(
    { store: deps.store, queue: deps.queue, notifier: deps.notifier, containers, pool, registration, metrics: deps.metrics, log: deps.log, keyring: deps.keyring, identities: deps.identities, ...(deps.services && { services: deps.services }) },
    {
      name,
      concurrency: runner.concurrency,
      prefetch: runner.prefetch || 2 * runner.concurrency,
      heartbeatIntervalMs,
      reapIntervalMs: deadAfterMs,
      buildRetries: runner.build_retries,
      platformRetries: runner.platform_retries,
      maxRequestAgeMs: runner.max_request_age * 1000,
    },
  );
}

/**
 * The deployment a runner's containers belong to: a digest of its database's URL without
 * credentials. Runners tell live runners from dead ones by their heartbeats in that database, so
 * they judge only containers of runners that report to it.
 */
function deploymentOf(settings: Settings): string {
  const raw = databaseUrl(settings);
  let where = raw;
  try {
    const url = new URL(raw);
    url.username = '';
    url.password = '';
    where = url.toString();
  } catch {
    // Not a URL the platform parses differently: the whole string names it.
  }
  return createHash('sha256').update(where).digest('hex').slice(0, 16);
}
