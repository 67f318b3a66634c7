/** Pratai's service user in Keystone, as `[keystone_authtoken]` names it: the API's and the runners'. */
import type { Settings } from '../config.js';
import { PrataiError } from '../errors.js';
import type { KeystoneCredentials } from './client.js';

type AuthtokenSettings = Settings['keystone_authtoken'];

/** The service user's credentials, from `[keystone_authtoken]`; throws naming a missing option. */
export function serviceCredentials(options: AuthtokenSettings): KeystoneCredentials {
  const need = (name: keyof AuthtokenSettings): string => {
    const value = options[name];
    if (typeof value !== 'string' || value === '') {
      throw new PrataiError('InvalidParameter', `[keystone_authtoken] ${name} is required with auth_type = ${options.auth_type}`);
    }
    return value;
  };
  if (options.auth_type === 'v3applicationcredential') {
    return { method: 'application_credential', id: need('application_credential_id'), secret: need('application_credential_secret') };
  }
  return {
    method: 'password',
    username: need('username'),
    password: need('password'),
    userDomainName: options.user_domain_name,
    scope: { projectName: need('project_name'), projectDomainName: options.project_domain_name },
  };
}
