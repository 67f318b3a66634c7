/**
 * auth_strategy = keystone: the caller's `X-Auth-Token` is validated the way keystonemiddleware
 * does it for every OpenStack service. Pratai's service user (`[keystone_authtoken]`) asks
 * Keystone (`GET /v3/auth/tokens` with `X-Subject-Token`), the answer is cached by a hash of the
 * token (never past its expiry nor `token_cache_time`), and the caller becomes the token's user in
 * the token's project with the token's roles.
 *
 * It fails closed: a Keystone that cannot be reached, or that refuses the service user, is a 503
 * for the caller; nothing is let through unvalidated.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Settings } from '../common/config.js';
import type { Identity } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { findEndpoint, KeystoneClient, KeystoneSession, type KeystoneToken } from '../common/keystone/client.js';
import { serviceCredentials } from '../common/keystone/service-user.js';
import type { Logger } from '../common/log.js';
import type { Authenticator } from './auth.js';
import { TokenCache } from './token-cache.js';

type AuthtokenSettings = Settings['keystone_authtoken'];

/** Fernet tokens are about 200 characters, PKI ones were a few KiB: anything longer is not a token. */
const MAX_TOKEN_LENGTH = 8192;

export { serviceCredentials } from '../common/keystone/service-user.js';

/** How long one answer of `ping` is kept. */
const HEALTH_CACHE_MS = 5_000;

export class KeystoneAuthenticator implements Authenticator {
  readonly challenge: string;
  private readonly session: KeystoneSession;
  private readonly cache: TokenCache<Identity>;
  /** Where tokens are validated: the catalog's identity endpoint on `interface`, else auth_url. */
  private validator: KeystoneClient | undefined;
  /** The last health check, and when it began. */
  private health: { at: number; check: Promise<void> } | undefined;

  /** Throws when a required option is missing: the process must not start half-configured. */
  constructor(
    private readonly options: AuthtokenSettings,
    private readonly log: Logger,
  ) {
    if (options.auth_url === '') throw new PrataiError('InvalidParameter', '[keystone_authtoken] auth_url is required with auth_strategy = keystone');
    const client = new KeystoneClient({ authUrl: options.auth_url, timeoutMs: options.http_connect_timeout * 1000 });
    this.session = new KeystoneSession(client, serviceCredentials(options));
    this.cache = new TokenCache(options.token_cache_time * 1000);
    this.challenge = `Keystone uri="${options.www_authenticate_uri || options.auth_url}"`;
  }

  async authenticate(headers: IncomingHttpHeaders): Promise<Identity> {
    const token = headers['x-auth-token'];
    if (token === undefined || token === '') throw new PrataiError('Unauthorized', 'This call needs a Keystone token in the X-Auth-Token header');
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !/^[\x21-\x7e]+$/.test(token)) {
      throw new PrataiError('Unauthorized', 'The X-Auth-Token header does not hold a token');
    }
    const cached = this.cache.get(token);
    if (cached !== undefined) return cached;
    const validated = await this.validate(token);
    if (validated.project === undefined) {
      throw new PrataiError('Forbidden', 'The token is not scoped to a project; Pratai needs a project-scoped token (set a project name or id when getting it)');
    }
    const identity: Identity = Object.freeze({
      userId: validated.user.id,
      tenantId: validated.project.id,
      roles: Object.freeze(validated.roles.map((role) => role.toLowerCase())),
    });
    this.cache.set(token, identity, validated.expiresAt);
    return identity;
  }

  private async validate(token: string): Promise<KeystoneToken> {
    try {
      return await this.session.call(async (serviceToken) => (await this.validatorClient()).validateToken(serviceToken, token, { catalog: false }));
    } catch (error) {
      if (!(error instanceof PrataiError)) throw error;
      if (error.code === 'Unauthorized' && error.details?.keystone_status === 404) {
        throw new PrataiError('Unauthorized', 'The token is not valid: it expired, was revoked or is unknown to Keystone');
      }
      // Whatever else went wrong is Pratai's own trouble with Keystone (unreachable, the service
      // user refused or not allowed to validate), never the caller's: fail closed.
      this.log.error(`cannot validate tokens: ${error.message}`);
      if (error.code === 'ServiceUnavailable') throw error;
      throw new PrataiError('ServiceUnavailable', `Pratai cannot validate tokens with Keystone now: ${error.message}`, { cause: error });
    }
  }

  /**
   * Whether tokens can be validated now: Pratai's own token, validated where callers' are. Load
   * balancers ask often: an answer is kept HEALTH_CACHE_MS, so Keystone sees at most one such
   * call in that time.
   */
  ping(): Promise<void> {
    if (this.health === undefined || Date.now() - this.health.at > HEALTH_CACHE_MS) {
      const check = this.session.call(async (serviceToken) => void (await (await this.validatorClient()).validateToken(serviceToken, serviceToken, { catalog: false })));
      this.health = { at: Date.now(), check: check.catch((error: unknown) => {
        throw error instanceof PrataiError && error.code === 'ServiceUnavailable' ? error : new PrataiError('ServiceUnavailable', `Pratai cannot validate tokens with Keystone now: ${(error as Error).message}`, { cause: error });
      }) };
      this.health.check.catch(() => undefined); // asked by the caller; unasked, no rejection is news
    }
    return this.health.check;
  }

  private async validatorClient(): Promise<KeystoneClient> {
    if (this.validator === undefined) {
      const { catalog } = await this.session.token();
      const region = this.options.region_name || undefined;
      const url = findEndpoint(catalog, { type: 'identity', interface: this.options.interface, ...(region && { region }) });
      this.validator = url === undefined ? this.session.client : new KeystoneClient({ authUrl: url, timeoutMs: this.options.http_connect_timeout * 1000 });
    }
    return this.validator;
  }
}
