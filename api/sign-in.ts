/**
 * `POST /v1/auth/tokens` (auth_strategy = keystone): a user's password exchanged for a Keystone
 * token scoped to one of their projects, for the console. A browser cannot ask Keystone itself
 * (another origin, and Keystone sends no CORS headers), so the API asks for it, with the password
 * method, at `[keystone_authtoken] auth_url`. Neither the password nor the token is ever logged;
 * the token is only handed back, never kept.
 */
import express, { Router, type Request } from 'express';
import { PrataiError } from '../common/errors.js';
import { KeystoneClient, type KeystoneToken } from '../common/keystone/client.js';
import type { ApiDeps } from './deps.js';
import { RateLimiter } from './rate-limit.js';

/** Sign-ins a minute per client address once its burst is spent: enough for people, slow for guessing. */
const SIGN_INS_PER_MINUTE = 10;
const SIGN_IN_BURST = 20;
/** Names and passwords are short; Keystone caps them at 255 and 4096 characters. */
const MAX_FIELD_LENGTH = 4096;

export interface SignIn {
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
}

/** The body's fields, checked: `user_domain_name` and `project_domain_name` default to `Default`. */
export function signInOf(body: unknown): SignIn {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidParameter', `Expected a JSON object with username, password and project_name, got ${Array.isArray(body) ? 'an array' : typeof body}`);
  const fields = body as Record<string, unknown>;
  const field = (name: string, fallback?: string): string => {
    const value = fields[name] ?? fallback;
    if (typeof value !== 'string' || value === '' || value.length > MAX_FIELD_LENGTH) {
      throw new PrataiError('InvalidParameter', `Expected \`${name}\` to be a non-empty string, got ${value === undefined ? 'nothing' : typeof value === 'string' ? `${value.length} characters` : typeof value}`);
    }
    return value;
  };
  return {
    username: field('username'),
    password: field('password'),
    projectName: field('project_name'),
    userDomainName: field('user_domain_name', 'Default'),
    projectDomainName: field('project_domain_name', 'Default'),
  };
}

export function signInRouter(deps: ApiDeps): Router {
  const router = Router();
  const options = deps.settings.keystone_authtoken;
  const keystone = deps.settings.DEFAULT.auth_strategy === 'keystone'
    ? new KeystoneClient({ authUrl: options.auth_url, timeoutMs: options.http_connect_timeout * 1000 })
    : undefined;
  const limiter = new RateLimiter(SIGN_INS_PER_MINUTE, SIGN_IN_BURST);
  router.post('/tokens', express.json({ limit: '16kb' }), async (req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    if (keystone === undefined) throw new PrataiError('NotFound', 'No route for POST /v1/auth/tokens: signing in is for auth_strategy = keystone, and this API runs with noauth');
    const wait = limiter.take(clientAddress(req));
    if (wait > 0) {
      res.setHeader('Retry-After', String(wait));
      throw new PrataiError('TooManyRequests', `Expected at most ${SIGN_INS_PER_MINUTE} sign-ins a minute from one address, got more; try again in ${wait} s`);
    }
    const asked = signInOf(req.body);
    const token = await issue(keystone, asked);
    if (token.project === undefined) throw new PrataiError('Forbidden', `Keystone gave a token scoped to no project for project \`${asked.projectName}\``);
    res.status(201).json({
      token: token.token,
      expires_at: token.expiresAt.toISOString(),
      project: { id: token.project.id, name: token.project.name },
      user: { id: token.user.id, name: token.user.name },
      roles: token.roles,
    });
  });
  return router;
}

async function issue(keystone: KeystoneClient, asked: SignIn): Promise<KeystoneToken> {
  try {
    return await keystone.issueToken(
      {
        method: 'password',
        username: asked.username,
        password: asked.password,
        userDomainName: asked.userDomainName,
        scope: { projectName: asked.projectName, projectDomainName: asked.projectDomainName },
      },
      { catalog: false },
    );
  } catch (error) {
    if (!(error instanceof PrataiError)) throw error;
    if (error.code === 'ServiceUnavailable') throw new PrataiError('ServiceUnavailable', `Signing in needs Keystone, which cannot be used now: ${error.message}`, { cause: error });
    // Keystone says 401 alike for an unknown user, a wrong password and a project the user has no
    // role on, so as not to tell which: neither does Pratai.
    const status = error.details?.keystone_status;
    if (status === 401 || status === 404 || status === 400) {
      throw new PrataiError('Unauthorized', `Keystone refused user \`${asked.username}\` (domain \`${asked.userDomainName}\`) on project \`${asked.projectName}\` (domain \`${asked.projectDomainName}\`): wrong password, unknown user or project, or no role on it`);
    }
    throw error;
  }
}

/** The peer's address: a proxy in front would make every client the same, and needs `trust proxy`. */
const clientAddress = (req: Request): string => req.ip ?? req.socket.remoteAddress ?? 'unknown';
