/**
 * Who may call a function's webhook. A private function's needs a token of the function's project
 * (`function:invoke`); another project's caller finds no such function (404). A public function's
 * takes anonymous calls, its token is not looked at, and each function's calls are rate-limited
 * (429 with Retry-After). Either way the request then runs as the function's owner.
 *
 * It runs before the body is read: a refused caller costs no body parsing.
 */
import type { RequestHandler, Response } from 'express';
import type { FunctionRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { authenticateCaller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { authorizeOn, visibleScope } from './policy.js';
import { RateLimiter } from './rate-limit.js';

/** Admits the caller of `POST /function/:function_id`, leaving the function for `admittedFunction`. */
export function admitWebhookCaller(deps: ApiDeps): RequestHandler<{ function_id: string }> {
  const limiter = new RateLimiter(deps.settings.api.public_webhook_rate, deps.settings.api.public_webhook_burst);
  const notFound = (functionId: string): PrataiError => new PrataiError('FunctionNotFound', `No function with id \`${functionId}\``);
  return async (req, res, next) => {
    const functionId = req.params.function_id;
    const fn = await deps.store.getFunction(functionId, 'all-tenants');
    if (fn === undefined) throw notFound(functionId);
    if (fn.public) {
      const wait = limiter.take(fn.function_id);
      if (wait > 0) {
        res.setHeader('Retry-After', String(wait));
        throw new PrataiError('TooManyRequests', `Function \`${functionId}\` takes at most ${deps.settings.api.public_webhook_rate} anonymous calls a minute; call again in ${wait} s`);
      }
    } else {
      res.locals.identity = await authenticateCaller(deps.auth, req.headers, res);
      const scope = visibleScope(deps.policy, res);
      if (scope !== 'all-tenants' && scope.tenantId !== fn.tenant_id) throw notFound(functionId);
      authorizeOn(deps.policy, res, 'function:invoke', fn);
    }
    res.locals.function = fn;
    next();
  };
}

/** The function `admitWebhookCaller` admitted the caller to. */
export const admittedFunction = (res: Response): FunctionRecord => res.locals.function as FunctionRecord;
