import type { Settings } from '../common/config.js';
import type { Logger } from '../common/log.js';

/** The loud warning of a platform that trusts every caller. */
export function warnIfNoAuth(settings: Settings, log: Logger): void {
  if (settings.DEFAULT.auth_strategy === 'noauth') {
    log.warning('*** auth_strategy = noauth: every caller is an admin of one project. Do not expose this to a network. ***');
  }
}
