/**
 * Who may call a function's webhook. A private function's needs a token of the function's project
 * (`function:invoke`); another project's caller finds no such function (404). A public function's
 * takes anonymous calls, its token is not looked at, and each function's calls are rate-limited
 * (429 with Retry-After): one call of its limit a payload, so that a bulk call of N payloads takes
 * N, all or none. Either way the request then runs as the function's owner.
 *
 * Admission runs before the body is read: a caller of a public function with no call left is
 * refused before any body parsing; the calls are taken once the body says how many payloads.
 */
import type { RequestHandler, Response } from 'express';
import type { FunctionRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { authenticateCaller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { authorizeOn, visibleScope } from './policy.js';
import { RateLimiter } from './rate-limit.js';
import { userFunction } from './user-functions.js';

/** The rate limit of public functions' anonymous calls (`[api] public_webhook_rate` and `public_webhook_burst`), per function. */
export class PublicCallLimit {
  private readonly limiter: RateLimiter;

  constructor(private readonly rate: number, burst: number) {
    this.limiter = new RateLimiter(rate, burst);
  }

  /** Refuses (429) a call of a public function that has no call left, before its body is read. */
  admit(fn: FunctionRecord, res: Response): void {
    this.refuse(fn, res, this.limiter.wait(fn.function_id));
  }

  /**
   * Takes `payloads` calls of a public function's limit, all or none: 429 with Retry-After when
   * fewer are left, 400 when more than its burst are asked at once (no wait would let them in).
   */
  take(fn: FunctionRecord, res: Response, payloads: number): void {
    if (!fn.public || !this.limiter.limited) return;
    if (payloads > this.limiter.burst) {
      throw new PrataiError(
        'InvalidParameter',
        `Expected \`payloads\` to hold at most ${this.limiter.burst} payloads in an anonymous call of public function \`${fn.function_id}\` (each takes one call of its rate limit, [api] public_webhook_burst at once), got ${payloads}`,
      );
    }
    this.refuse(fn, res, this.limiter.take(fn.function_id, payloads));
  }

  private refuse(fn: FunctionRecord, res: Response, wait: number): void {
    if (wait === 0) return;
    res.setHeader('Retry-After', String(wait));
    throw new PrataiError('TooManyRequests', `Function \`${fn.function_id}\` takes at most ${this.rate} anonymous calls (payloads) a minute; call again in ${wait} s`);
  }
}

/** Admits the caller of `POST /function/:function_id`, leaving the function for `admittedFunction`. */
export function admitWebhookCaller(deps: ApiDeps, limit: PublicCallLimit): RequestHandler<{ function_id: string }> {
  const notFound = (functionId: string): PrataiError => new PrataiError('FunctionNotFound', `No function with id \`${functionId}\``);
  return async (req, res, next) => {
    const functionId = req.params.function_id;
    // A workflow's hidden function has no webhook: its requests are made by the workflow engine alone.
    const fn = await userFunction(deps.store, functionId, 'all-tenants');
    if (fn === undefined) throw notFound(functionId);
    if (fn.public) {
      limit.admit(fn, res);
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
