/** Coordination over the store the settings name, when its database can hold it (not MongoDB). */
import type { Settings } from '../config.js';
import { PrataiError } from '../errors.js';
import type { Logger } from '../log.js';
import type { SubmitDeps } from '../submit-request.js';
import { Coordination } from './coordination.js';

export function createCoordination(settings: Settings, deps: SubmitDeps & { log: Logger }): Coordination | undefined {
  try {
    return new Coordination({ ...deps, store: deps.store.coordination() }, { sweepIntervalMs: settings.coordination.sweep_interval_ms });
  } catch (error) {
    if (error instanceof PrataiError && error.code === 'CoordinationUnsupported') return undefined;
    throw error;
  }
}
