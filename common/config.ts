/**
 * Configuration in the oslo.config style OpenStack operators know: an INI file with sections,
 * every option also settable as PRATAI_<SECTION>_<OPTION> in the environment (the environment
 * wins over the file). Read once at start, validated, frozen: a bad value stops the process with a
 * message that names the option and where it came from.
 *
 * OPTIONS below is the single list of options: the loader, the typed Settings and the commented
 * sample (`pratai-manage config-sample`, etc/pratai.conf.sample) are all derived from it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { parse as parseIni } from 'ini';
import { describeValue } from './errors.js';

interface Option<T> {
  readonly default: T;
  readonly help: string;
  /** Turns the text of the file or the environment into a value, or throws with what was expected. */
  parse(raw: string): T;
  /** How the default is written in the sample file. */
  show(value: T): string;
}

function fail(expected: string, raw: string): never {
  throw new Error(`expected ${expected}, got ${describeValue(raw)}`);
}

const str = (fallback: string, help: string): Option<string> => ({
  default: fallback,
  help,
  parse: (raw) => raw.trim(),
  show: (v) => v,
});

const int = (fallback: number, min: number, max: number, help: string): Option<number> => ({
  default: fallback,
  help,
  parse(raw) {
    const text = raw.trim();
    const value = Number(text);
    if (!/^-?\d+$/.test(text) || value < min || value > max) fail(`an integer from ${min} to ${max}`, raw);
    return value;
  },
  show: String,
});

const bool = (fallback: boolean, help: string): Option<boolean> => ({
  default: fallback,
  help,
  parse(raw) {
    const text = raw.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(text)) return true;
    if (['false', '0', 'no', 'off'].includes(text)) return false;
    return fail('true or false', raw);
  },
  show: String,
});

const list = (help: string): Option<readonly string[]> => ({
  default: [],
  help,
  parse: (raw) => raw.split(',').map((item) => item.trim()).filter((item) => item !== ''),
  show: (v) => v.join(','),
});

const choice = <const C extends string>(fallback: C, choices: readonly C[], help: string): Option<C> => ({
  default: fallback,
  help,
  parse(raw) {
    const text = raw.trim();
    if (!(choices as readonly string[]).includes(text)) fail(`one of ${choices.join(', ')}`, raw);
    return text as C;
  },
  show: (v) => v,
});

const MiB = 1024 * 1024;

export const OPTIONS = {
  DEFAULT: {
    state_path: str('/var/lib/pratai', 'Folder for the embedded database and queue (created when missing).'),
    auth_strategy: choice('noauth', ['noauth', 'keystone'] as const, 'How API callers are authenticated. keystone: a Keystone token in X-Auth-Token, validated as [keystone_authtoken] says. noauth trusts everyone as the admin of one project: one machine, development only.'),
    debug: bool(false, 'Log at debug level.'),
    transport_url: str('', 'Message broker shared by API processes and runners, oslo.messaging style: rabbit://USER:PASS@HOST:5672/VHOST. Empty: the embedded queue under state_path (one process only).'),
    control_exchange: str('pratai', 'Prefix of the broker queues: jobs go to <control_exchange>.jobs.'),
  },
  api: {
    host: str('0.0.0.0', 'Address the REST API and the webhooks listen on.'),
    port: int(9998, 0, 65535, 'Port of the REST API (0 picks a free one).'),
    webhook_port: int(9898, 0, 65535, 'Port of the function webhooks (0 picks a free one).'),
    webhook_public_url: str('', 'Base URL of the webhooks as callers reach them, e.g. https://functions.example.org. Empty: http://<host the API was called on>:<webhook_port>.'),
    max_zip_bytes: int(10 * MiB, 1024, 1024 * MiB, 'Largest function zip accepted, in bytes.'),
    max_zip_entries: int(1000, 1, 10000, 'Most entries a function zip may hold.'),
    max_unpacked_bytes: int(50 * MiB, 1024, 4096 * MiB, 'Largest total a function zip may unpack to, in bytes.'),
    max_payload_bytes: int(MiB, 2, 64 * MiB, 'Largest webhook body accepted, in bytes.'),
    wait_timeout: int(30, 1, 900, 'Seconds a webhook of a wait_for_response function (or called with ?wait=true) holds the answer for the outcome; past it, it answers 202 with the request_id.'),
    public_webhook_rate: int(60, 0, 1_000_000, "Calls a minute a public function's webhook takes, per function and API process (token bucket); past it, 429 with Retry-After. 0: no limit. With several API processes, send each function's calls to one of them (deploy/haproxy.cfg hashes the path) for the limit to hold per function."),
    public_webhook_burst: int(20, 1, 1_000_000, "Calls a public function's webhook takes at once before public_webhook_rate applies."),
    context_headers: {
      ...list(
        "Headers of a webhook call handed to the function in its context (context.headers, lower-case names), comma-separated, and kept with the request. Credentials never are, whatever this says: X-Auth-Token, Authorization, Proxy-Authorization, Cookie and X-Subject-Token are left out, as is a value over 4096 characters. Empty: none.",
      ),
      default: ['content-type', 'user-agent', 'x-request-id'],
    },
  },
  database: {
    connection: str(
      '',
      'Database URL: sqlite:///ABSOLUTE/PATH, mysql://USER:PASSWORD@HOST:3306/DATABASE (MariaDB too; mysql+pymysql:// accepted), postgresql://USER:PASSWORD@HOST:5432/DATABASE (postgresql+psycopg2:// accepted) or mongodb://HOST:27017/DATABASE. Empty: sqlite:///<state_path>/pratai.db (one machine only).',
    ),
    max_pool_size: int(5, 1, 1000, 'Most connections each process keeps open to a MySQL, PostgreSQL or MongoDB server.'),
    request_retention_days: int(30, 0, 36500, 'Days a finished request (its payload, response and logs) is kept before the purge deletes it. 0: keep them forever.'),
  },
  runner: {
    name: str(
      '',
      "Name of this runner, unique among runners: its heartbeat, its containers' pratai.runner label and its channels' folder carry it. A runner started with the name of one that is still alive (a heartbeat within dead_after) is refused; one restarted after its predecessor died waits until that heartbeat is older than dead_after, then takes the name over. Empty: the host name and a suffix unique to the process (e.g. vm-3f9a1c), so that any number of runners share a machine.",
    ),
    concurrency: int(4, 1, 256, 'Requests one runner executes at once (and image builds).'),
    prefetch: int(
      0,
      0,
      4096,
      "Jobs the queue hands a runner ahead of a free slot, so that a broker's next job is already there when a request ends rather than a round trip away; never fewer than concurrency. 0: twice concurrency.",
    ),
    docker_socket: str('/var/run/docker.sock', 'Path of the Docker engine socket.'),
    channel_dir: str(
      '',
      "Folder where the runner makes each container's channel: a Unix socket it mounts read-only into that container, over which the runtime speaks instead of stdin/stdout through the Docker engine. The Docker host must see it at the same path (a runner in a container mounts it from the host at the same path); where it does not, runtimes fall back to stdin/stdout. Empty: <state_path>/channels.",
    ),
    network: str(
      'none',
      "Docker network joined by the containers of functions that ask for network (a function's `network` field, which the policy rule function:network must allow), e.g. bridge or a network made for them; the containers of other functions never get one. none: no function gets network, and the API refuses functions that ask for it. The API and every runner must read the same value (one pratai.conf for all processes): a runner with none fails the requests of a function that asks for network (NetworkNotAllowed).",
    ),
    pids_limit: int(64, 8, 4096, 'Most processes and threads a function container may have.'),
    tmpfs_size: int(16, 1, 1024, 'Size of the writable /tmp of a function container, in MiB (the rest is read-only).'),
    max_log_bytes: int(MiB, 1024, 64 * MiB, 'Most log output kept per request, in bytes; the rest is dropped with a note.'),
    max_response_bytes: int(MiB, 1024, 64 * MiB, 'Largest response a function may return, in bytes (JSON-encoded).'),
    heartbeat_interval: int(5, 1, 3600, 'Seconds between a runner checking Docker and reporting itself alive.'),
    dead_after: int(
      0,
      0,
      86400,
      "Seconds without a heartbeat after which a runner counts as dead: a runner starting or running on the same Docker engine then removes its containers and channels' folder, and its name may be taken by a runner started with it. 0: three heartbeat intervals.",
    ),
    dead_runner_retention: int(
      86400,
      0,
      365 * 86400,
      "Seconds a dead runner (no heartbeat for dead_after) stays listed by GET /v1/runners and runner-list, as `down`, before a runner's purge (every purge_interval) or pratai-manage purge deletes its row. 0: keep them until a runner takes the name again.",
    ),
    requeue_after: int(300, 1, 86400, 'Seconds a request may wait in `queued` before a runner takes its job for lost and publishes it again.'),
    sweep_interval: int(60, 1, 3600, 'Seconds between a runner looking for requests whose jobs were lost.'),
    build_retries: int(4, 0, 100, "Times an image build is tried again after a platform failure (Docker unusable) before the function's status becomes error. A request's retries are its function's `retries`."),
    platform_retries: int(
      2,
      0,
      100,
      "Attempts a request gets, beyond its function's `retries`, after attempts that failed through no fault of the function (its container could not be started or was killed from outside, Docker, its channel or the store failed): such a request is dead-lettered only once its attempts exceed retries + platform_retries.",
    ),
    max_request_age: int(21600, 0, 14 * 86400, 'Seconds after its creation that a request may still be started; older, a runner ends it failed (RequestExpired) and dead-letters it. 0: no limit.'),
    purge_interval: int(3600, 60, 7 * 86400, "Seconds between a runner's purges of the requests older than [database] request_retention_days."),
    pool_size: int(16, 0, 1024, 'Most warm containers a runner keeps, busy or idle, across functions: a warm container serves request after request of one function. 0: a fresh container for every request, removed after it.'),
    container_concurrency: int(1, 1, 64, 'Requests one warm container is given at once; they run in it one after another.'),
    pool_pause_after: int(10, 0, 86400, 'Seconds a warm container stays idle before it is paused (no CPU until its next request, which pays ~50 ms to resume it). 0: never paused.'),
    pool_idle_timeout: int(300, 1, 86400, 'Seconds a warm container stays idle before it is removed.'),
    metrics_port: int(
      0,
      0,
      65535,
      'Port a pratai-runner serves GET /metrics on (Prometheus text format), on [api] host. 0: none. pratai-server never opens it: its runner\'s metrics are on the API port\'s /metrics with the rest.',
    ),
    prewarm: int(2, 0, 64, 'Containers per runtime started before they are needed: the first request of a function without requirements (nor network) loads its code into one instead of waiting for a container to be created. 0: none.'),
  },
  scheduler: {
    enabled: bool(true, "Whether this process fires the jobs' (timers') ticks. Every pratai-api, pratai-runner and pratai-server does by default: a tick is claimed in the database, so it fires once however many do, and none is lost while one of them is up."),
    poll_interval_ms: int(1000, 10, 60_000, 'Longest the scheduler sleeps between two looks at the database, in milliseconds: how soon it sees a job another process created or changed (it sleeps until the next known tick when sooner, and wakes at once for a job created or changed through this process).'),
    batch: int(100, 1, 10_000, 'Most due jobs one look at the database claims; more are claimed by the next look at once.'),
  },
  keystone_authtoken: {
    www_authenticate_uri: str('', 'Keystone endpoint named to clients in 401 answers (WWW-Authenticate: Keystone uri="..."), where they get tokens. Empty: auth_url.'),
    auth_url: str('', 'Keystone endpoint Pratai authenticates its service user at, e.g. http://keystone.example.org:5000/v3. Required when auth_strategy = keystone.'),
    auth_type: choice('password', ['password', 'v3applicationcredential'] as const, 'How the service user authenticates: password (username, password, domains, project) or v3applicationcredential.'),
    username: str('', 'Service user name (auth_type = password). It needs the service or admin role to validate tokens.'),
    password: str('', 'Service user password (auth_type = password).'),
    user_domain_name: str('Default', "Service user's domain name."),
    project_name: str('service', 'Project the service token is scoped to.'),
    project_domain_name: str('Default', "Service project's domain name."),
    application_credential_id: str('', 'Application credential id (auth_type = v3applicationcredential).'),
    application_credential_secret: str('', 'Application credential secret (auth_type = v3applicationcredential).'),
    region_name: str('', "Region of the identity endpoint in the service token's catalog that tokens are validated at. Empty: any region."),
    interface: choice('internal', ['public', 'internal', 'admin'] as const, "Interface of the identity endpoint in the service token's catalog that tokens are validated at; auth_url when the catalog has none."),
    token_cache_time: int(60, 0, 86400, 'Seconds a validated token is trusted without asking Keystone again (never past its expiry). 0: ask every time.'),
    http_connect_timeout: int(10, 1, 600, 'Seconds a call to Keystone may take before Keystone counts as unreachable (503).'),
  },
  oslo_policy: {
    policy_file: str('', 'YAML or JSON file of policy rules (oslo.policy syntax) over the defaults, re-read when it changes. Empty: /etc/pratai/policy.yaml when it exists. etc/policy.yaml lists every rule.'),
  },
  secrets: {
    // Checked where they are used (common/secrets/keyring.ts), which names a bad one by its place, never by its text.
    keys: list(
      "Keys that functions' secrets are encrypted under (AES-256-GCM), comma-separated, each base64 of 32 random bytes (`openssl rand -base64 32`). The first encrypts; every one decrypts, so to rotate put a new key first, run `pratai-manage secrets-rotate`, then remove the old one. Every pratai-api and pratai-runner needs the same keys and refuses to start without; pratai-server without them makes a key in <state_path>/secrets.key (mode 0600). Keep them out of logs and backups of the database.",
    ),
  },
  build: {
    timeout: int(600, 10, 86400, 'Seconds an image build may take.'),
    network: str('default', 'Docker network mode during image builds (pip may need the network; running functions get [runner] network only when they ask for it).'),
    pip_index_url: str('', 'pip --index-url for requirements.txt (a mirror). Empty: pip default.'),
    pip_extra_index_url: str('', 'pip --extra-index-url.'),
    pip_find_links: list('Folders of wheels on the runner host offered to pip (--find-links), comma-separated.'),
    pip_no_index: bool(false, 'pip --no-index: install only from pip_find_links.'),
  },
  coordination: {
    session_timeout_ms: int(10_000, 500, 600_000, "Milliseconds a function request's coordination session lives without its runner keeping it alive: the bound on how long a crashed runner's ephemeral nodes (a lock, a leader) outlive it. A run that ends, however it ends, closes its session at once."),
    default_session_timeout_ms: int(10_000, 500, 600_000, 'Session timeout (milliseconds) of a session opened through the API without `timeout_ms`.'),
    sweep_interval_ms: int(1000, 100, 60_000, 'Milliseconds between looks for expired coordination sessions (each API and runner process looks; one closes each).'),
  },
  workflows: {
    endpoint_map: list(
      "Data store endpoints of workflow documents the runners reach elsewhere, comma-separated FROM=TO pairs of URLs (e.g. https://s3.amazonaws.com=http://swift.example:8080, the cloud's Swift S3 API). A store's Endpoint is compared without a trailing slash.",
    ),
    local_data_path: str('', "Folder of the data stores whose Endpoint is `local` (one folder per project and Bucket): for one machine only, the all-in-one platform without an object store. Empty: <state_path>/workflow-data."),
  },
} as const;

type Options = typeof OPTIONS;
type ValueOf<O> = O extends Option<infer T> ? T : never;
/** Validated, frozen settings: `settings.api.port`. */
export type Settings = {
  readonly [S in keyof Options]: { readonly [K in keyof Options[S]]: ValueOf<Options[S][K]> };
};

export const DEFAULT_CONFIG_FILE = '/etc/pratai/pratai.conf';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface ConfigSources {
  /** Files read in order (a later one wins). Empty: /etc/pratai/pratai.conf when it exists. */
  files?: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Values that win over files and environment (tests use this). */
  overrides?: { [S in keyof Options]?: { [K in keyof Options[S]]?: string } };
}

export const envName = (section: string, option: string): string => `PRATAI_${section.toUpperCase()}_${option.toUpperCase()}`;

/** Reads the configuration once. Throws ConfigError naming the option and its source. */
export function loadSettings(sources: ConfigSources = {}): { settings: Settings; warnings: string[] } {
  const env = sources.env ?? {};
  const warnings: string[] = [];
  const files = sources.files?.length ? sources.files : existsSync(DEFAULT_CONFIG_FILE) ? [DEFAULT_CONFIG_FILE] : [];
  const fromFiles: Record<string, Record<string, { raw: string; file: string }>> = {};
  for (const file of files) {
    let parsed: Record<string, unknown>;
    try {
      parsed = parseIni(readFileSync(file, 'utf8'));
    } catch (error) {
      throw new ConfigError(`Cannot read configuration file ${file}: ${(error as Error).message}`);
    }
    for (const [section, body] of Object.entries(parsed)) {
      if (typeof body !== 'object' || body === null) {
        warnings.push(`${file}: option ${section} outside any section is ignored`);
        continue;
      }
      if (!(section in OPTIONS)) {
        warnings.push(`${file}: unknown section [${section}] is ignored`);
        continue;
      }
      for (const [name, raw] of Object.entries(body as Record<string, unknown>)) {
        if (!(name in OPTIONS[section as keyof Options])) {
          warnings.push(`${file}: unknown option [${section}] ${name} is ignored`);
          continue;
        }
        (fromFiles[section] ??= {})[name] = { raw: String(raw), file };
      }
    }
  }

  const settings: Record<string, Record<string, unknown>> = {};
  for (const [section, options] of Object.entries(OPTIONS)) {
    const values: Record<string, unknown> = {};
    for (const [name, option] of Object.entries(options) as [string, Option<unknown>][]) {
      const override = (sources.overrides as Record<string, Record<string, string | undefined>> | undefined)?.[section]?.[name];
      const variable = envName(section, name);
      const fileValue = fromFiles[section]?.[name];
      const [raw, origin] =
        override !== undefined ? [override, 'overrides']
        : env[variable] !== undefined ? [env[variable], `environment variable ${variable}`]
        : fileValue !== undefined ? [fileValue.raw, fileValue.file]
        : [undefined, 'default'];
      try {
        values[name] = raw === undefined ? option.default : option.parse(raw);
      } catch (error) {
        throw new ConfigError(`Invalid configuration: [${section}] ${name} (from ${origin}): ${(error as Error).message}`);
      }
    }
    settings[section] = Object.freeze(values);
  }
  const knownVariables = new Set(Object.entries(OPTIONS).flatMap(([s, o]) => Object.keys(o).map((n) => envName(s, n))));
  for (const variable of Object.keys(env)) {
    if (variable.startsWith('PRATAI_') && !knownVariables.has(variable) && /^PRATAI_[A-Z]+_/.test(variable)) {
      const section = variable.split('_')[1]?.toLowerCase();
      if (section !== undefined && (section in OPTIONS || section === 'default')) warnings.push(`unknown environment variable ${variable} is ignored`);
    }
  }
  return { settings: Object.freeze(settings) as Settings, warnings };
}

/** Settings with every option at its default, plus overrides: for tests and tools. */
export function defaultSettings(overrides: ConfigSources['overrides'] = {}): Settings {
  return loadSettings({ files: ['/dev/null'], env: {}, overrides }).settings;
}

/** The database URL in force: the configured one, or SQLite under state_path. */
export function databaseUrl(settings: Settings): string {
  return settings.database.connection || `sqlite://${settings.DEFAULT.state_path}/pratai.db`;
}

/** Whether the operator lets functions that ask for network have it: `[runner] network` is not `none`. */
export function functionNetworkAllowed(settings: Settings): boolean {
  return settings.runner.network !== 'none';
}

/**
 * The id of one runner process: its configured `[runner] name`, else the host name and the start
 * of `instanceId` (unique to the process), so that runners started side by side with defaults
 * never share one.
 */
export function runnerId(settings: Settings, instanceId: string): string {
  return settings.runner.name || `${hostname()}-${instanceId.slice(0, 6)}`;
}

/** Seconds without a heartbeat after which a runner counts as dead: `[runner] dead_after`, or three heartbeat intervals. */
export function runnerDeadAfterSeconds(settings: Settings): number {
  return settings.runner.dead_after || 3 * settings.runner.heartbeat_interval;
}

/**
 * Seconds without a heartbeat after which a runner's row is deleted: dead (`runnerDeadAfterSeconds`),
 * then kept `[runner] dead_runner_retention` more; 0 when they are kept.
 */
export function runnerForgetAfterSeconds(settings: Settings): number {
  return settings.runner.dead_runner_retention === 0 ? 0 : runnerDeadAfterSeconds(settings) + settings.runner.dead_runner_retention;
}

/** The commented sample configuration, every option at its default. */
export function sampleConfig(): string {
  const lines = [
    '# Pratai configuration (oslo.config style).',
    '# Read from /etc/pratai/pratai.conf, or the files given with --config-file PATH.',
    '# Every option can also be set in the environment as PRATAI_<SECTION>_<OPTION>,',
    '# e.g. PRATAI_API_PORT=9998, PRATAI_DEFAULT_DEBUG=true; the environment wins.',
    '# Generated by `pratai-manage config-sample`.',
  ];
  for (const [section, options] of Object.entries(OPTIONS)) {
    lines.push('', `[${section}]`);
    for (const [name, option] of Object.entries(options) as [string, Option<unknown>][]) {
      const shown = option.show(option.default);
      lines.push('', ...wrap(`${option.help} (environment: ${envName(section, name)})`, 76).map((line) => `# ${line}`), `#${name} =${shown ? ` ${shown}` : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + word.length + 1 > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  return [...lines, line];
}

/** Splits `--config-file PATH` (repeatable, also `--config-file=PATH`) out of argv. */
export function parseConfigArgs(argv: readonly string[]): { files: string[]; rest: string[] } {
  const files: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i] as string;
    if (arg === '--config-file') {
      const next = argv[i + 1];
      if (next === undefined) throw new ConfigError('--config-file needs a path');
      files.push(next);
      i += 1;
    } else if (arg.startsWith('--config-file=')) {
      files.push(arg.slice('--config-file='.length));
    } else {
      rest.push(arg);
    }
  }
  for (const file of files) if (!existsSync(file)) throw new ConfigError(`Configuration file ${file} does not exist`);
  return { files, rest };
}
