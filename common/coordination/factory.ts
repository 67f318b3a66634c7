/** Coordination over the store the settings name, when its database can hold it (not MongoDB). */
import type { Settings } from '../config.js';
import { PrataiError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Notifier } from '../notifications/notifier.js';
import type { Store } from '../store/store.js';
import { Coordination } from './coordination.js';

export function createCoordination(settings: Settings, deps: { store: Store; notifier: Notifier; log: Logger }): Coordination | undefined {
  try {
    return new Coordination({ store: deps.store.coordination(), notifier: deps.notifier, log: deps.log }, { sweepIntervalMs: settings.coordination.sweep_interval_ms });
  } catch (error) {
    if (error instanceof PrataiError && error.code === 'CoordinationUnsupported') return undefined;
    throw error;
  }
}
