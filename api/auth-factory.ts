/** The authenticator `[DEFAULT] auth_strategy` names. */
import type { Settings } from '../common/config.js';
import type { Logger } from '../common/log.js';
import { NoAuthAuthenticator, type Authenticator } from './auth.js';
import { KeystoneAuthenticator } from './keystone-auth.js';

/** Throws when the strategy's options are incomplete: the process must not start half-configured. */
export function createAuthenticator(settings: Settings, log: Logger): Authenticator {
  switch (settings.DEFAULT.auth_strategy) {
    case 'noauth':
      return new NoAuthAuthenticator();
    case 'keystone':
      return new KeystoneAuthenticator(settings.keystone_authtoken, log.child('keystone'));
  }
}
