/**
 * The auth port: establishes who is calling from the request's headers. Handlers read the result
 * from `identityOf(res)`; tenant and user ids never come from the request body.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { RequestHandler, Response } from 'express';
import type { Identity } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import type { Scope } from '../common/store/store.js';

export interface Authenticator {
  /** Who is calling; throws an Unauthorized, Forbidden or ServiceUnavailable PrataiError. */
  authenticate(headers: IncomingHttpHeaders): Promise<Identity>;
  /** The `WWW-Authenticate` value of a 401, telling clients where to get a token. */
  readonly challenge?: string;
  /** Throws, saying why, when callers' tokens cannot be checked now: what `/healthcheck` reports. */
  ping?(): Promise<void>;
}

/**
 * noauth: every caller is the same admin of one project. For one machine and development only:
 * the process warns loudly at start.
 */
export class NoAuthAuthenticator implements Authenticator {
  static readonly identity: Identity = Object.freeze({ userId: 'noauth', tenantId: 'noauth', roles: Object.freeze(['admin', 'member']) });

  async authenticate(): Promise<Identity> {
    return NoAuthAuthenticator.identity;
  }
}

/** Sets the caller's identity for the handlers after it; a 401 carries the authenticator's challenge. */
export function authenticate(auth: Authenticator): RequestHandler {
  return async (req, res, next) => {
    res.locals.identity = await authenticateCaller(auth, req.headers, res);
    next();
  };
}

/** `auth.authenticate`, with `WWW-Authenticate` set on the response when it refuses. */
export async function authenticateCaller(auth: Authenticator, headers: IncomingHttpHeaders, res: ServerResponse): Promise<Identity> {
  try {
    return await auth.authenticate(headers);
  } catch (error) {
    if (error instanceof PrataiError && error.code === 'Unauthorized' && auth.challenge) res.setHeader('WWW-Authenticate', auth.challenge);
    throw error;
  }
}

/**
 * Identity headers a proxy such as keystonemiddleware would set. Pratai reads none of them, and
 * removes any a client sent so that nothing behind it (a log, a function, a later middleware)
 * can be fooled by them: who is calling comes from the token alone.
 */
const IDENTITY_HEADER = /^x-(identity-status|service-identity-status|(service-)?(domain|project|user|user-domain|project-domain)-(id|name)|(service-)?roles|service-catalog|tenant(-id|-name)?|user|role|is-admin-project|auth-(url|project-id)|trust-id|app-cred-id)$/;

export function removeIdentityHeaders(headers: IncomingHttpHeaders): void {
  for (const name of Object.keys(headers)) if (IDENTITY_HEADER.test(name)) delete headers[name];
}

export const stripIdentityHeaders: RequestHandler = (req, _res, next) => {
  removeIdentityHeaders(req.headers);
  next();
};

export const identityOf = (res: Response): Identity => res.locals.identity as Identity;

/** The caller's own project: what every read and write is limited to. */
export const scopeOf = (res: Response): Scope => ({ tenantId: identityOf(res).tenantId });
