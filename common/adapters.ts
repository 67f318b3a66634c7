/** Opens the store, the queue and the notifier the settings name: the adapters every process shares. */
import type { Settings } from './config.js';
import type { Logger } from './log.js';
import { Metrics } from './metrics.js';
import { openNotifier } from './notifications/factory.js';
import type { Notifier } from './notifications/notifier.js';
import type { Keyring } from './secrets/keyring.js';
import type { JobQueue } from './queue/queue.js';
import { openQueue } from './queue/factory.js';
import { openStore } from './store/factory.js';
import type { Store } from './store/store.js';

export interface Adapters {
  store: Store;
  queue: JobQueue;
  notifier: Notifier;
  /** The keys secrets are sealed under: the API seals with it, runners open with it. */
  keyring: Keyring;
  /** The process's Prometheus metrics: every role in it counts into one registry. */
  metrics: Metrics;
  close(): Promise<void>;
}

export interface AdapterOptions {
  /** The process's keyring, as it loaded it (common/secrets/keyring.ts loadKeyring). */
  keyring: Keyring;
  /** Whether this process has subscribers to notifications (it serves the API); a runner only publishes them. */
  listen: boolean;
}

export async function openAdapters(settings: Settings, log: Logger | undefined, options: AdapterOptions): Promise<Adapters> {
  const opened: { close(): Promise<void> }[] = [];
  const closeAll = async (): Promise<void> => {
    for (const adapter of opened.reverse()) await adapter.close();
  };
  try {
    const store = await openStore(settings);
    opened.push(store);
    const queue = await openQueue(settings, log?.child('queue'));
    opened.push(queue);
    const notifier = await openNotifier(settings, { listen: options.listen, log: log?.child('notifications') });
    opened.push(notifier);
    return { store, queue, notifier, keyring: options.keyring, metrics: new Metrics(), close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
