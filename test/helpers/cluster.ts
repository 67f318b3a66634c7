/**
 * Several pratai-api and pratai-runner processes over one database and a RabbitMQ vhost of their
 * own, as an operator runs them on several machines (run `npm run build` first): each restartable
 * as it was started, and the runners' containers removed at the end whatever happened to them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Platform } from '../../server/platform.js';
import type { TestDatabase } from './databases.js';
import { freePort, startPratai, type PrataiProcess } from './processes.js';

const rabbitmqctl = (...args: string[]): string => execFileSync('rabbitmqctl', ['-q', ...args], { encoding: 'utf8' });

export interface ClusterOptions {
  /** pratai-api processes: indexes 0 … apis - 1 (default 2). */
  apis?: number;
  /** pratai-runner processes, after the APIs (default 2). */
  runners?: number;
  /** Names the runners (`<name>-<i>-…`), so that a test's containers are told apart. */
  name: string;
  /** Settings every process gets, beside the database, the broker and the keys. */
  env?: NodeJS.ProcessEnv;
}

export class Cluster {
  readonly vhost = `pratai-test-${randomBytes(4).toString('hex')}`;
  readonly runnerNames: string[];
  /** Indexed as startOne takes them: the APIs, then the runners; undefined until started. */
  readonly processes: (PrataiProcess | undefined)[];
  private readonly apis: number;
  private readonly ports: { api: number; webhook: number }[] = [];
  private env: NodeJS.ProcessEnv = {};

  constructor(
    readonly database: TestDatabase,
    private readonly options: ClusterOptions,
  ) {
    this.apis = options.apis ?? 2;
    this.runnerNames = Array.from({ length: options.runners ?? 2 }, (_, i) => `${options.name}-${i}-${process.pid}-${randomBytes(2).toString('hex')}`);
    this.processes = Array.from({ length: this.apis + this.runnerNames.length }, () => undefined);
  }

  async start(): Promise<void> {
    rabbitmqctl('add_vhost', this.vhost);
    rabbitmqctl('set_permissions', '-p', this.vhost, 'guest', '.*', '.*', '.*');
    this.env = {
      PRATAI_DATABASE_CONNECTION: this.database.url,
      PRATAI_DEFAULT_TRANSPORT_URL: `rabbit://guest:guest@127.0.0.1:5672/${this.vhost}`,
      PRATAI_RUNNER_HEARTBEAT_INTERVAL: '1',
      PRATAI_RUNNER_PREWARM: '0',
      PRATAI_SECRETS_KEYS: randomBytes(32).toString('base64'),
      ...this.options.env,
    };
    for (let i = 0; i < this.apis; i += 1) this.ports.push({ api: await freePort(), webhook: await freePort() });
    await Promise.all(this.processes.map((_, i) => this.startOne(i)));
  }

  /** Starts process `i` (again): an API on its own ports, or a runner under its own name. */
  async startOne(i: number): Promise<void> {
    const ports = this.ports[i];
    const runnerName = this.runnerNames[i - this.apis] as string;
    const proc =
      ports !== undefined
        ? startPratai('pratai-api', { env: { ...this.env, PRATAI_API_HOST: '127.0.0.1', PRATAI_API_PORT: String(ports.api), PRATAI_API_WEBHOOK_PORT: String(ports.webhook) } })
        : startPratai('pratai-runner', { env: { ...this.env, PRATAI_RUNNER_NAME: runnerName } });
    this.processes[i] = proc;
    await proc.started(ports !== undefined ? /webhooks on/ : new RegExp(`runner ${runnerName} started`));
  }

  /** Where API `i` answers. */
  api(i = 0): Pick<Platform, 'apiUrl' | 'webhookUrl'> {
    const ports = this.ports[i] as { api: number; webhook: number };
    return { apiUrl: `http://127.0.0.1:${ports.api}`, webhookUrl: `http://127.0.0.1:${ports.webhook}` };
  }

  async stopAll(signal: NodeJS.Signals): Promise<void> {
    await Promise.all(this.processes.map((proc) => (proc ? proc.stop(signal) : Promise.resolve(null))));
  }

  async close(): Promise<void> {
    await this.stopAll('SIGTERM');
    // A SIGKILLed runner's containers, should its restart not have removed them: ours only, by our runner names.
    for (const name of this.runnerNames) {
      const left = execFileSync('docker', ['ps', '-aq', '--filter', `label=pratai.runner=${name}`], { encoding: 'utf8' }).split('\n').filter(Boolean);
      if (left.length > 0) execFileSync('docker', ['rm', '-f', ...left], { stdio: 'ignore' });
    }
    rabbitmqctl('delete_vhost', this.vhost);
    await this.database.drop();
  }
}
