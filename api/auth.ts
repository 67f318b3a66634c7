/**
 * The auth port: establishes who is calling from the request's headers. Handlers read the result
 * from `identityOf(res)`; tenant and user ids never come from the request body.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler, Response } from 'express';
import type { Settings } from '../common/config.js';
import type { Identity } from '../common/domain.js';
import type { Scope } from '../common/store.js';

export interface Authenticator {
  /** Who is calling; throws an Unauthorized or ServiceUnavailable PrataiError. */
  authenticate(headers: IncomingHttpHeaders): Promise<Identity>;
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

/** The authenticator `[DEFAULT] auth_strategy` names. */
export function createAuthenticator(settings: Settings): Authenticator {
  switch (settings.DEFAULT.auth_strategy) {
    case 'noauth':
      return new NoAuthAuthenticator();
  }
}

export function authenticate(auth: Authenticator): RequestHandler {
  return async (req, res, next) => {
    res.locals.identity = await auth.authenticate(req.headers);
    next();
  };
}

export const identityOf = (res: Response): Identity => res.locals.identity as Identity;

/** The caller's own project: what every read and write is limited to. */
export const scopeOf = (res: Response): Scope => ({ tenantId: identityOf(res).tenantId });
