import type { Settings } from '../common/config.js';
import type { Coordination } from '../common/coordination/coordination.js';
import type { Logger } from '../common/log.js';
import type { Metrics } from '../common/metrics.js';
import type { Notifier } from '../common/notifications/notifier.js';
import type { FunctionTrusts } from '../common/keystone/trusts.js';
import type { Keyring } from '../common/secrets/keyring.js';
import type { JobQueue } from '../common/queue/queue.js';
import type { Store } from '../common/store/store.js';
import type { Authenticator } from './auth.js';
import type { OpenStreams } from './event-stream.js';
import type { Policy } from './policy.js';

/** What the API needs from the outside world; main.ts builds the real ones, tests may too. */
export interface ApiDeps {
  store: Store;
  queue: JobQueue;
  /** Where changes are announced and heard: the sync webhook, log follows and request watches wait on it. */
  notifier: Notifier;
  auth: Authenticator;
  /** Who may do what (`[oslo_policy]`). */
  policy: Policy;
  /** Seals the secrets' values the API is given (`[secrets] keys`). */
  keyring: Keyring;
  settings: Settings;
  /** The process's Prometheus metrics, served at GET /metrics. */
  metrics: Metrics;
  log: Logger;
  /** Functions' Keystone trusts (auth_strategy = keystone); absent, no function gets an OpenStack identity. */
  trusts?: FunctionTrusts;
  /** The projects' coordination trees; absent where the database cannot hold them (MongoDB). */
  coordination?: Coordination;
  /** The streams open now (log follows, request watches), ended when the API stops. */
  streams: OpenStreams;
  /** Tells this process's timer scheduler that a timer was created or changed, so that it looks now. */
  timersChanged?: () => void;
  /** The port webhooks are served on (known only once listening when configured as 0). */
  webhookPort(): number;
}
