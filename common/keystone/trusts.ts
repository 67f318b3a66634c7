/**
 * Functions' OpenStack identities: a Keystone trust per function, from the user who asked for it
 * (trustor) to Pratai's service user (trustee), with impersonation, so that a token of the trust
 * acts as that user in the function's project with the roles they chose. The API creates and
 * deletes trusts with the caller's own token (Keystone takes a trust only from its trustor, and
 * lets only the trustor or an admin delete one); runners get a trust-scoped token for each run as
 * the service user, which is all a trust lets the trustee do.
 */
import type { Settings } from '../config.js';
import type { FunctionOpenStack, FunctionRecord } from '../domain.js';
import { PrataiError } from '../errors.js';
import { identityV3Url, KeystoneClient, KeystoneSession, type KeystoneCredentials } from './client.js';
import { serviceCredentials } from './service-user.js';

/** A token of a function's identity, as the function gets it in `context.openstack`. */
export interface FunctionToken {
  auth_url: string;
  token: string;
  project_id: string;
  region: string;
  expires_at: string;
}

/** The roles a function's trust delegates when the caller names none. */
export const DEFAULT_OPENSTACK_ROLES: readonly string[] = ['member'];

const keystoneStatus = (error: unknown): unknown => (error instanceof PrataiError ? error.details?.keystone_status : undefined);

export class FunctionTrusts {
  private readonly client: KeystoneClient;
  private readonly session: KeystoneSession;
  private readonly credentials: KeystoneCredentials;
  /** Where a function reaches Keystone: the endpoint named to clients, else auth_url. */
  private readonly publicAuthUrl: string;
  private readonly region: string;

  constructor(options: Settings['keystone_authtoken']) {
    this.client = new KeystoneClient({ authUrl: options.auth_url, timeoutMs: options.http_connect_timeout * 1000 });
    this.credentials = serviceCredentials(options);
    this.session = new KeystoneSession(this.client, this.credentials);
    this.publicAuthUrl = identityV3Url(options.www_authenticate_uri || options.auth_url);
    this.region = options.region_name;
  }

  /**
   * Creates the trust of a function owned by the caller (`callerToken`, of user `userId` in
   * `projectId`). TrustInvalid when Keystone refuses it (a role the caller lacks, say).
   */
  async create(callerToken: string, caller: { userId: string; projectId: string }, roles: readonly string[]): Promise<FunctionOpenStack> {
    if (this.credentials.method !== 'password') {
      throw new PrataiError('TrustInvalid', 'Functions get an OpenStack identity only when the service user authenticates with a password ([keystone_authtoken] auth_type = password): an application credential cannot take a trust');
    }
    const trustee = (await this.session.token()).user.id;
    try {
      const trustId = await this.client.createTrust(callerToken, { trustorUserId: caller.userId, trusteeUserId: trustee, projectId: caller.projectId, roles, impersonation: true });
      return { trust_id: trustId, roles: [...roles], trustor_user_id: caller.userId };
    } catch (error) {
      const status = keystoneStatus(error);
      if (status === 400 || status === 403 || status === 404) {
        throw new PrataiError('TrustInvalid', `Keystone refused the function's trust with roles ${roles.join(', ')}: ${(error as Error).message}. Expected roles you have on this project`);
      }
      throw error;
    }
  }

  /**
   * Deletes a function's trust with the caller's token (the trustor's or an admin's). True when
   * it is gone (or was already); false when Keystone does not let this caller delete it.
   */
  async delete(callerToken: string, openstack: FunctionOpenStack): Promise<boolean> {
    try {
      await this.client.deleteTrust(callerToken, openstack.trust_id);
      return true;
    } catch (error) {
      const status = keystoneStatus(error);
      if (status === 404) return true;
      if (status === 403 || status === 401) return false;
      throw error;
    }
  }

  /**
   * A token of the function's trust, for one run. TrustInvalid when the trust is gone, revoked
   * or expired, or its trustor lost the roles; ServiceUnavailable when Keystone or the service
   * user is the trouble (then the run is retried).
   */
  async tokenFor(fn: Pick<FunctionRecord, 'openstack' | 'function_id'>): Promise<FunctionToken> {
    const openstack = fn.openstack;
    if (openstack === undefined) throw new PrataiError('TrustInvalid', `Function \`${fn.function_id}\` has no OpenStack identity`);
    if (this.credentials.method !== 'password') {
      throw new PrataiError('TrustInvalid', 'A trust-scoped token needs the service user to authenticate with a password ([keystone_authtoken] auth_type = password)');
    }
    let token;
    try {
      token = await this.client.issueToken({ ...this.credentials, scope: { trustId: openstack.trust_id } }, { catalog: false });
    } catch (error) {
      const status = keystoneStatus(error);
      if (status !== 401 && status !== 403 && status !== 404) throw error;
      // When the service user still authenticates (afresh: its password may have changed), the
      // trust is what Keystone refused.
      try {
        this.session.invalidate();
        await this.session.token();
      } catch (serviceError) {
        throw new PrataiError('ServiceUnavailable', `Keystone refuses Pratai's service user: ${(serviceError as Error).message}`, { cause: serviceError });
      }
      throw new PrataiError('TrustInvalid', `The function's OpenStack identity is gone: Keystone refused a token of its trust ${openstack.trust_id} (deleted, revoked or expired, or its trustor lost the roles ${openstack.roles.join(', ')}). Update the function with openstack_auth=true to give it a new one`);
    }
    if (token.project === undefined) throw new PrataiError('TrustInvalid', `Keystone issued a token of trust ${openstack.trust_id} without a project`);
    return { auth_url: this.publicAuthUrl, token: token.token, project_id: token.project.id, region: this.region, expires_at: token.expiresAt.toISOString() };
  }
}
