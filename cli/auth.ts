/**
 * Who the CLI is and where Pratai is, as the OpenStack clients decide it: every `OS_X` variable
 * has an `--os-x` flag; the flag wins over the variable, the variable over the cloud named by
 * `OS_CLOUD` in clouds.yaml. Then a token is got from Keystone (password, application credential
 * or token method) and Pratai's endpoint is `OS_PRATAI_URL` or the token's service catalog (type
 * `function-engine`). With no credentials at all the CLI calls Pratai without a token, which a
 * noauth server accepts.
 */
import { findEndpoint, KeystoneClient, type KeystoneCredentials, type KeystoneScope, type KeystoneToken } from '../common/keystone/client.js';
import { SERVICE_TYPE } from '../common/keystone/catalog.js';
import { PrataiError } from '../common/errors.js';
import { CliError, usageError } from './errors.js';
import { loadCloud, type CloudsEnvironment } from './clouds.js';

/** Where a noauth Pratai answers when nothing says otherwise (`npm start`). */
export const DEFAULT_PRATAI_URL = 'http://localhost:9998';

/**
 * The settings, by their clouds.yaml key, with the metavar and help of their flag. Each is
 * `--os-<key with dashes>` and `OS_<KEY>`; `insecure` is `--insecure` and `OS_INSECURE`, as in
 * the OpenStack clients.
 */
export const AUTH_SETTINGS = {
  cloud: ['name', 'cloud in clouds.yaml to take the settings from'],
  pratai_url: ['url', `Pratai API endpoint; found in the service catalog (type ${SERVICE_TYPE}) when not given`],
  auth_type: ['type', 'authentication type: password, token, v3applicationcredential or none (guessed from what is given)'],
  auth_url: ['url', 'Keystone endpoint (http://keystone:5000/v3)'],
  identity_api_version: ['version', 'identity API version (only 3 is supported)'],
  username: ['name', 'user name to authenticate with'],
  user_id: ['id', 'user id to authenticate with'],
  password: ['password', "user's password"],
  user_domain_name: ['name', "user's domain name (default Default)"],
  user_domain_id: ['id', "user's domain id"],
  project_name: ['name', 'project to scope the token to'],
  project_id: ['id', 'project id to scope the token to'],
  tenant_name: ['name', 'project to scope the token to (the older name of --os-project-name)'],
  tenant_id: ['id', 'project id to scope the token to (the older name of --os-project-id)'],
  project_domain_name: ['name', "project's domain name (default Default)"],
  project_domain_id: ['id', "project's domain id"],
  token: ['token', 'a token to use instead of a password'],
  application_credential_id: ['id', 'application credential id'],
  application_credential_secret: ['secret', 'application credential secret'],
  region_name: ['name', 'region of the endpoint in the service catalog'],
  interface: ['interface', 'interface of the endpoint in the service catalog: public, internal or admin (default public)'],
  endpoint_type: ['type', 'the older name of --os-interface (publicURL, internalURL, adminURL)'],
  cacert: ['file', 'CA bundle file to verify TLS (https) servers with'],
  insecure: ['', 'do not verify TLS (https) server certificates'],
} as const;
export type AuthSetting = keyof typeof AUTH_SETTINGS;
export type AuthSettings = Partial<Record<AuthSetting, string>>;

export const flagOf = (setting: AuthSetting): string => (setting === 'insecure' ? '--insecure' : `--os-${setting.replaceAll('_', '-')}`);
export const variableOf = (setting: AuthSetting): string => `OS_${setting.toUpperCase()}`;

/**
 * The settings in force: the given ones (flags, then variables, already merged by the caller)
 * over those of the cloud they name.
 */
export function resolveSettings(given: AuthSettings, clouds: CloudsEnvironment): AuthSettings {
  const defined = Object.fromEntries(Object.entries(given).filter(([, value]) => value !== undefined && value !== '')) as AuthSettings;
  if (defined.cloud === undefined) return defined;
  const cloud = loadCloud(defined.cloud, clouds);
  // clouds.yaml may name Pratai's endpoint as openstacksdk names endpoint overrides, too.
  const prataiUrl = cloud.pratai_url ?? cloud.function_engine_endpoint_override;
  const fromCloud = Object.fromEntries(Object.entries(cloud).filter(([key]) => key in AUTH_SETTINGS)) as AuthSettings;
  return { ...fromCloud, ...(prataiUrl !== undefined && { pratai_url: prataiUrl }), ...defined };
}

/** How the CLI authenticates, decided from the settings. */
export type AuthPlan =
  /** No token: a noauth Pratai. */
  | { kind: 'none'; endpoint: string }
  /** A token sent as it is, to a given endpoint (OS_TOKEN and OS_PRATAI_URL, no Keystone). */
  | { kind: 'token'; endpoint: string; token: string }
  /** A token got from Keystone; the endpoint from the catalog unless given. */
  | { kind: 'keystone'; authUrl: string; credentials: KeystoneCredentials; endpoint: string | undefined; who: string };

export function planAuth(settings: AuthSettings): AuthPlan {
  const version = settings.identity_api_version;
  if (version !== undefined && !/^v?3(\.\d+)?$/.test(version)) {
    throw usageError(`Identity API version \`${version}\` is not supported; set OS_IDENTITY_API_VERSION=3`);
  }
  const type = (settings.auth_type ?? guessAuthType(settings)).replace(/^v3/, '');
  const endpoint = settings.pratai_url;
  if (type === 'none' || type === 'noauth') return { kind: 'none', endpoint: endpoint ?? DEFAULT_PRATAI_URL };
  if (type === 'admin_token' || type === 'token_endpoint' || (type === 'token' && settings.auth_url === undefined)) {
    if (settings.token === undefined) throw usageError('Set OS_TOKEN (or --os-token) to authenticate with a token');
    return { kind: 'token', endpoint: endpoint ?? DEFAULT_PRATAI_URL, token: settings.token };
  }
  const authUrl = settings.auth_url;
  if (authUrl === undefined) throw usageError(`Set OS_AUTH_URL (or --os-auth-url), the Keystone endpoint, to authenticate with auth type \`${type}\``);
  const scope = scopeOf(settings);
  switch (type) {
    case 'password': {
      const user = settings.user_id ?? settings.username;
      if (user === undefined) throw usageError('Set OS_USERNAME (or --os-username) to authenticate with a password');
      if (settings.password === undefined) throw usageError('Set OS_PASSWORD (or --os-password) to authenticate with a password');
      const credentials: KeystoneCredentials = {
        method: 'password',
        password: settings.password,
        ...(settings.user_id !== undefined ? { userId: settings.user_id } : { username: settings.username }),
        ...(settings.user_domain_id !== undefined ? { userDomainId: settings.user_domain_id } : { userDomainName: settings.user_domain_name ?? 'Default' }),
        ...(scope && { scope }),
      };
      return { kind: 'keystone', authUrl, credentials, endpoint, who: `user \`${user}\`` };
    }
    case 'applicationcredential': {
      const { application_credential_id: id, application_credential_secret: secret } = settings;
      if (id === undefined || secret === undefined) throw usageError('Set both OS_APPLICATION_CREDENTIAL_ID and OS_APPLICATION_CREDENTIAL_SECRET to authenticate with an application credential');
      return { kind: 'keystone', authUrl, credentials: { method: 'application_credential', id, secret }, endpoint, who: `application credential \`${id}\`` };
    }
    case 'token':
      if (settings.token === undefined) throw usageError('Set OS_TOKEN (or --os-token) to authenticate with a token');
      return { kind: 'keystone', authUrl, credentials: { method: 'token', token: settings.token, ...(scope && { scope }) }, endpoint, who: 'the given token' };
    default:
      throw usageError(`Expected OS_AUTH_TYPE to be password, token, v3applicationcredential or none, got \`${settings.auth_type}\``);
  }
}

/** As the OpenStack clients guess: an application credential, a password, a token, or nothing. */
function guessAuthType(settings: AuthSettings): string {
  if (settings.application_credential_id !== undefined || settings.application_credential_secret !== undefined) return 'applicationcredential';
  if (settings.password !== undefined || settings.username !== undefined || settings.user_id !== undefined) return 'password';
  if (settings.token !== undefined) return 'token';
  if (settings.auth_url !== undefined) {
    throw usageError('OS_AUTH_URL is set but no credentials are: set OS_USERNAME and OS_PASSWORD, OS_TOKEN, or OS_APPLICATION_CREDENTIAL_ID and OS_APPLICATION_CREDENTIAL_SECRET');
  }
  return 'none';
}

function scopeOf(settings: AuthSettings): KeystoneScope | undefined {
  const projectId = settings.project_id ?? settings.tenant_id;
  if (projectId !== undefined) return { projectId };
  const projectName = settings.project_name ?? settings.tenant_name;
  if (projectName === undefined) return undefined;
  return settings.project_domain_id !== undefined ? { projectName, projectDomainId: settings.project_domain_id } : { projectName, projectDomainName: settings.project_domain_name ?? 'Default' };
}

/** What calls to Pratai carry: where to, and the token (none for noauth). */
export interface Session {
  endpoint: string;
  token: string | undefined;
}

/** Follows a plan: gets the token from Keystone when it must, and finds the endpoint. */
export async function openSession(plan: AuthPlan, settings: AuthSettings): Promise<Session> {
  if (plan.kind !== 'keystone') return { endpoint: trimUrl(plan.endpoint), token: plan.kind === 'token' ? plan.token : undefined };
  const keystone = new KeystoneClient({ authUrl: plan.authUrl });
  let token: KeystoneToken;
  try {
    token = await keystone.issueToken(plan.credentials, { catalog: plan.endpoint === undefined });
  } catch (error) {
    throw keystoneFailure(error, plan.who);
  }
  if (plan.endpoint !== undefined) return { endpoint: trimUrl(plan.endpoint), token: token.token };
  const iface = settings.interface ?? settings.endpoint_type ?? 'public';
  const found = findEndpoint(token.catalog, { type: SERVICE_TYPE, interface: iface, ...(settings.region_name !== undefined && { region: settings.region_name }) });
  if (found === undefined) {
    const where = `interface ${iface}${settings.region_name === undefined ? '' : `, region ${settings.region_name}`}`;
    throw new CliError(`No ${SERVICE_TYPE} endpoint (${where}) in the service catalog of Keystone at ${keystone.url}; set OS_PRATAI_URL, or register Pratai in the catalog`);
  }
  return { endpoint: trimUrl(found), token: token.token };
}

const trimUrl = (url: string): string => url.replace(/\/+$/, '');

/** Keystone's refusals, in the words a user of the OpenStack clients expects. */
function keystoneFailure(error: unknown, who: string): unknown {
  if (!(error instanceof PrataiError)) return error;
  if (error.code === 'ServiceUnavailable') return new CliError(error.message, 1, { cause: error });
  return new CliError(`Authentication as ${who} failed: ${error.message}`, 1, { cause: error });
}
