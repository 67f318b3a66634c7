/**
 * A small client of the Keystone v3 identity API over fetch, shared by the API (token
 * validation), `pratai-manage` (the service catalog) and the CLI (getting a token and finding
 * Pratai's endpoint). No maintained npm client for Keystone v3 exists; this one covers what
 * Pratai needs and nothing more.
 *
 * Every failure is a PrataiError: Keystone refusing credentials or a token is `Unauthorized`, a
 * Keystone that cannot be reached (or answers 5xx) is `ServiceUnavailable` naming its URL. The
 * HTTP status Keystone answered with is kept in `details.keystone_status` (absent when it could
 * not be reached), so a caller can tell "my token was refused" (401) from "that token does not
 * exist" (404).
 */
import { PrataiError, type ErrorCode } from '../errors.js';

/** A project, user or domain as Keystone names it in a token. */
export interface KeystoneRef {
  readonly id: string;
  readonly name: string;
}

export interface KeystoneEndpoint {
  readonly id: string;
  /** `public`, `internal` or `admin`. */
  readonly interface: string;
  readonly region: string | null;
  readonly region_id: string | null;
  readonly url: string;
}

/** One service of the catalog a token carries, with its endpoints. */
export interface CatalogEntry {
  readonly id: string;
  readonly type: string;
  readonly name: string;
  readonly endpoints: readonly KeystoneEndpoint[];
}

/** A token and what Keystone says about it. */
export interface KeystoneToken {
  /** The token itself: the value of `X-Auth-Token`. */
  readonly token: string;
  readonly expiresAt: Date;
  readonly issuedAt: Date;
  readonly user: KeystoneRef & { readonly domain: KeystoneRef };
  /** The project the token is scoped to; undefined for an unscoped, domain or system token. */
  readonly project: (KeystoneRef & { readonly domain: KeystoneRef }) | undefined;
  /** Role names, as Keystone spells them (`member`, `reader`, `admin`, ...). */
  readonly roles: readonly string[];
  /** The service catalog; empty when asked for without it. */
  readonly catalog: readonly CatalogEntry[];
  /** The authentication methods used (`password`, `application_credential`, `token`). */
  readonly methods: readonly string[];
}

/** What a token is scoped to. Names need their domain (a name or an id). */
export type KeystoneScope =
  | { projectId: string }
  | { projectName: string; projectDomainName?: string; projectDomainId?: string }
  | { domainId: string }
  | { domainName: string }
  | { system: true }
  /** A trust: the token acts for its trustor (with impersonation) in the trust's project, with the trust's roles. */
  | { trustId: string };

/** How to get a token. */
export type KeystoneCredentials =
  | {
      method: 'password';
      password: string;
      /** A user id, or a name with its domain (`userDomainName` or `userDomainId`, default `Default`). */
      userId?: string;
      username?: string;
      userDomainName?: string;
      userDomainId?: string;
      scope?: KeystoneScope;
    }
  /** An application credential: its scope is fixed by the credential itself. */
  | { method: 'application_credential'; id: string; secret: string }
  /** An existing token, re-scoped (or refreshed, keeping its expiry). */
  | { method: 'token'; token: string; scope?: KeystoneScope };

export interface KeystoneClientOptions {
  /** The identity endpoint: `http://host:5000`, `.../v3` or `.../v3/` are all taken. */
  authUrl: string;
  /** Milliseconds one call to Keystone may take before it counts as unreachable. Default 10 000. */
  timeoutMs?: number;
}

/** Options of a call of `KeystoneClient.request`. */
export interface KeystoneCall {
  /** X-Auth-Token: who is calling. */
  token?: string;
  /** X-Subject-Token: the token a call is about (validate, revoke). */
  subjectToken?: string;
  body?: unknown;
  query?: Record<string, string | undefined>;
}

/** The answer of `KeystoneClient.request`: the JSON body (undefined when empty) and the headers. */
export interface KeystoneAnswer<T> {
  status: number;
  headers: Headers;
  body: T;
}

const DEFAULT_TIMEOUT_MS = 10_000;

/** A trust to create: from the trustor, who calls, to the trustee, on one project. */
export interface TrustRequest {
  trustorUserId: string;
  trusteeUserId: string;
  projectId: string;
  /** Role names the trust delegates; the trustor must have each on the project. */
  roles: readonly string[];
  /** Whether the trustee's tokens act as the trustor (their user is the trustor). */
  impersonation: boolean;
}

/** The v3 base of an identity endpoint, without a trailing slash: `http://host:5000/v3`. */
export function identityV3Url(authUrl: string): string {
  const trimmed = authUrl.trim().replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(trimmed)) throw new PrataiError('InvalidParameter', `Expected a Keystone URL such as http://keystone.example.org:5000/v3, got \`${authUrl}\``);
  if (/\/v2\.0$/.test(trimmed)) throw new PrataiError('InvalidParameter', `Keystone v2.0 is not supported; use the v3 endpoint instead of \`${authUrl}\``);
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

/**
 * The URL of a service's endpoint in a catalog: the first of `type` on `interface` (default
 * `public`; `publicURL` and friends are taken too) in `region` when one is given.
 */
export function findEndpoint(catalog: readonly CatalogEntry[], wanted: { type: string; interface?: string; region?: string }): string | undefined {
  const iface = (wanted.interface ?? 'public').replace(/URL$/, '');
  for (const service of catalog) {
    if (service.type !== wanted.type) continue;
    for (const endpoint of service.endpoints) {
      if (endpoint.interface !== iface) continue;
      if (wanted.region && endpoint.region_id !== wanted.region && endpoint.region !== wanted.region) continue;
      return endpoint.url;
    }
  }
  return undefined;
}

/** Keystone v3, spoken over fetch. Stateless: every call names its own token. */
export class KeystoneClient {
  /** The v3 base URL calls go to: `http://host:5000/v3`. */
  readonly url: string;
  private readonly timeoutMs: number;

  constructor(options: KeystoneClientOptions) {
    this.url = identityV3Url(options.authUrl);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Authenticates: `POST /v3/auth/tokens`. Refused credentials are `Unauthorized`. */
  async issueToken(credentials: KeystoneCredentials, options: { catalog?: boolean } = {}): Promise<KeystoneToken> {
    const answer = await this.request<TokenBody>('POST', '/auth/tokens', {
      body: { auth: authBody(credentials) },
      query: { nocatalog: options.catalog === false ? '1' : undefined },
    });
    const token = answer.headers.get('x-subject-token');
    if (!token) throw new PrataiError('ServiceUnavailable', `Keystone at ${this.url} issued a token without an X-Subject-Token header`);
    return tokenFrom(token, answer.body);
  }

  /**
   * Validates `subjectToken` as `serviceToken`'s holder: `GET /v3/auth/tokens`. An unknown,
   * expired or revoked subject is `Unauthorized` with `keystone_status` 404; a refused service
   * token is `Unauthorized` with 401; a service token without the right to validate, `Forbidden`.
   */
  async validateToken(serviceToken: string, subjectToken: string, options: { catalog?: boolean } = {}): Promise<KeystoneToken> {
    const answer = await this.request<TokenBody>('GET', '/auth/tokens', {
      token: serviceToken,
      subjectToken,
      query: { nocatalog: options.catalog === false ? '1' : undefined },
    });
    return tokenFrom(subjectToken, answer.body);
  }

  /** Revokes a token at once (`DELETE /v3/auth/tokens`); a token may revoke itself. */
  async revokeToken(token: string, subjectToken: string = token): Promise<void> {
    await this.request('DELETE', '/auth/tokens', { token, subjectToken });
  }

  /**
   * Creates a trust (`POST /v3/OS-TRUST/trusts`) with the trustor's own token: Keystone takes a
   * trust only from its trustor, and only roles the trustor has on the project. Answers its id.
   */
  async createTrust(trustorToken: string, trust: TrustRequest): Promise<string> {
    const answer = await this.request<{ trust: { id: string } }>('POST', '/OS-TRUST/trusts', {
      token: trustorToken,
      body: {
        trust: {
          trustor_user_id: trust.trustorUserId,
          trustee_user_id: trust.trusteeUserId,
          project_id: trust.projectId,
          roles: trust.roles.map((name) => ({ name })),
          impersonation: trust.impersonation,
        },
      },
    });
    return answer.body.trust.id;
  }

  /**
   * Deletes a trust (`DELETE /v3/OS-TRUST/trusts/ID`), which revokes the tokens scoped to it.
   * Keystone's default policy lets only the trustor or an admin do it.
   */
  async deleteTrust(token: string, trustId: string): Promise<void> {
    await this.request('DELETE', `/OS-TRUST/trusts/${encodeURIComponent(trustId)}`, { token });
  }

  /**
   * Any v3 call: `path` is below `/v3` (`/projects`). Answers with the parsed JSON body; a
   * status of 400 or more becomes a PrataiError.
   */
  async request<T = unknown>(method: string, path: string, call: KeystoneCall = {}): Promise<KeystoneAnswer<T>> {
    const query = new URLSearchParams(Object.entries(call.query ?? {}).filter((entry): entry is [string, string] => entry[1] !== undefined));
    const url = `${this.url}${path}${query.size > 0 ? `?${query.toString()}` : ''}`;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (call.token !== undefined) headers['x-auth-token'] = call.token;
    if (call.subjectToken !== undefined) headers['x-subject-token'] = call.subjectToken;
    if (call.body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method,
        headers,
        ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      text = await response.text();
    } catch (error) {
      const reason = error instanceof Error && error.name === 'TimeoutError' ? `no answer within ${this.timeoutMs} ms` : describeFetchFailure(error);
      throw new PrataiError('ServiceUnavailable', `Keystone at ${this.url} cannot be reached: ${reason}`, { cause: error });
    }
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = text;
    }
    if (response.status >= 400) throw keystoneError(this.url, method, path, response.status, body);
    return { status: response.status, headers: response.headers, body: body as T };
  }
}

/**
 * A client holding one identity's token (a service user's, say): it authenticates on first
 * need, renews the token shortly before it expires, and re-authenticates once when Keystone
 * refuses it (revoked, or Keystone's keys rotated) before giving up.
 */
export class KeystoneSession {
  private current: Promise<KeystoneToken> | undefined;
  /** Renew this long before the token expires, so no call goes out with a token about to lapse. */
  private static readonly RENEW_BEFORE_MS = 60_000;

  constructor(
    readonly client: KeystoneClient,
    private readonly credentials: KeystoneCredentials,
  ) {}

  /** The session's token, authenticating when there is none or it is about to expire. */
  async token(): Promise<KeystoneToken> {
    const held = this.current;
    const token = held && (await held.catch(() => undefined));
    if (token !== undefined && !KeystoneSession.nearExpiry(token)) return token;
    // Only the first caller to find the token stale asks for a new one; the others share it.
    if (this.current === held || this.current === undefined) {
      const fresh = this.client.issueToken(this.credentials, { catalog: true });
      this.current = fresh;
      fresh.catch(() => {
        if (this.current === fresh) this.current = undefined;
      });
    }
    return this.current;
  }

  private static nearExpiry(token: KeystoneToken): boolean {
    const lifetime = token.expiresAt.getTime() - token.issuedAt.getTime();
    return token.expiresAt.getTime() - Date.now() < Math.min(KeystoneSession.RENEW_BEFORE_MS, lifetime / 2);
  }

  /** Forgets the token: the next call authenticates again. */
  invalidate(): void {
    this.current = undefined;
  }

  /**
   * Runs `call` with the session's token; when Keystone answers 401 to it, authenticates again
   * and runs it once more.
   */
  async call<T>(call: (token: string) => Promise<T>): Promise<T> {
    const first = await this.token();
    try {
      return await call(first.token);
    } catch (error) {
      if (!(error instanceof PrataiError) || error.details?.keystone_status !== 401) throw error;
      if ((await this.current?.catch(() => undefined)) === first) this.invalidate();
      return call((await this.token()).token);
    }
  }
}

interface TokenBody {
  token: {
    methods?: string[];
    expires_at: string;
    issued_at: string;
    user: KeystoneRef & { domain: KeystoneRef };
    project?: KeystoneRef & { domain: KeystoneRef };
    roles?: KeystoneRef[];
    catalog?: CatalogEntry[];
  };
}

function tokenFrom(token: string, body: TokenBody): KeystoneToken {
  const t = body.token;
  return {
    token,
    expiresAt: new Date(t.expires_at),
    issuedAt: new Date(t.issued_at),
    user: t.user,
    project: t.project,
    roles: (t.roles ?? []).map((role) => role.name),
    catalog: t.catalog ?? [],
    methods: t.methods ?? [],
  };
}

function scopeBody(scope: KeystoneScope): unknown {
  if ('system' in scope) return { system: { all: true } };
  if ('trustId' in scope) return { 'OS-TRUST:trust': { id: scope.trustId } };
  if ('domainId' in scope) return { domain: { id: scope.domainId } };
  if ('domainName' in scope) return { domain: { name: scope.domainName } };
  if ('projectId' in scope) return { project: { id: scope.projectId } };
  const domain = scope.projectDomainId !== undefined ? { id: scope.projectDomainId } : { name: scope.projectDomainName ?? 'Default' };
  return { project: { name: scope.projectName, domain } };
}

function authBody(credentials: KeystoneCredentials): unknown {
  switch (credentials.method) {
    case 'password': {
      if (credentials.userId === undefined && credentials.username === undefined) {
        throw new PrataiError('InvalidParameter', 'Expected a user id or a user name to authenticate with a password, got neither');
      }
      const domain = credentials.userDomainId !== undefined ? { id: credentials.userDomainId } : { name: credentials.userDomainName ?? 'Default' };
      const user = credentials.userId !== undefined ? { id: credentials.userId, password: credentials.password } : { name: credentials.username, domain, password: credentials.password };
      return { identity: { methods: ['password'], password: { user } }, ...(credentials.scope && { scope: scopeBody(credentials.scope) }) };
    }
    case 'application_credential':
      return { identity: { methods: ['application_credential'], application_credential: { id: credentials.id, secret: credentials.secret } } };
    case 'token':
      return { identity: { methods: ['token'], token: { id: credentials.token } }, ...(credentials.scope && { scope: scopeBody(credentials.scope) }) };
  }
}

const STATUS_CODES: Record<number, ErrorCode> = { 400: 'InvalidParameter', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'InvalidParameter' };

function keystoneError(url: string, method: string, path: string, status: number, body: unknown): PrataiError {
  const said = (body as { error?: { message?: string } } | undefined)?.error?.message ?? (typeof body === 'string' ? body.slice(0, 200) : '');
  const details = { keystone_status: status };
  if (status >= 500) return new PrataiError('ServiceUnavailable', `Keystone at ${url} failed (${status})${said ? `: ${said}` : ''}`, { details });
  // Keystone answers 404 to a validation of a token it does not know, has revoked or saw expire.
  if (path === '/auth/tokens' && status === 404) return new PrataiError('Unauthorized', `The token is not valid: it is unknown, expired or revoked (${said || 'Keystone: not found'})`, { details });
  if (path === '/auth/tokens' && status === 401 && method === 'POST') return new PrataiError('Unauthorized', `Keystone refused the credentials: ${said || 'unauthorized'}`, { details });
  return new PrataiError(STATUS_CODES[status] ?? 'InvalidParameter', `Keystone answered ${status} to ${method} ${path}${said ? `: ${said}` : ''}`, { details });
}

/** fetch's TypeError hides the reason (ECONNREFUSED, ENOTFOUND) in its cause. */
function describeFetchFailure(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | undefined)?.cause;
  if (cause?.code) return cause.code;
  if (cause?.message) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
