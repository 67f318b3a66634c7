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
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { FunctionRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { authenticateCaller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { authorizeCaller, callerScope } from './policy.js';
import { RateLimiter } from './rate-limit.js';
import { userFunction } from './user-functions.js';

/**
 * Admits callers of the webhooks of one API process: one rate limit per public function,
 * whichever of its webhooks (latest, a version, an alias) and port is called.
 */
export class WebhookAccess {
  private readonly limiter: RateLimiter;

  constructor(private readonly deps: Pick<ApiDeps, 'store' | 'auth' | 'policy' | 'settings'>) {
    this.limiter = new RateLimiter(deps.settings.api.public_webhook_rate, deps.settings.api.public_webhook_burst);
  }

  /**
   * The function whose webhook is called, once its caller is admitted; `res` gets Retry-After or
   * WWW-Authenticate when refused. A public function with no call left is refused (429) before its
   * body is read; its calls are taken by `take` once the body says how many payloads.
   */
  async admit(functionId: string, headers: IncomingHttpHeaders, res: ServerResponse): Promise<FunctionRecord> {
    const { store, auth, policy } = this.deps;
    // A workflow's hidden function has no webhook: its requests are made by the workflow engine alone.
    const fn = await userFunction(store, functionId, 'all-tenants');
    if (fn === undefined) throw notFound(functionId);
    if (fn.public) {
      this.refuse(fn, res, this.limiter.wait(fn.function_id));
    } else {
      const identity = await authenticateCaller(auth, headers, res);
      const scope = callerScope(policy, identity);
      if (scope !== 'all-tenants' && scope.tenantId !== fn.tenant_id) throw notFound(functionId);
      authorizeCaller(policy, identity, 'function:invoke', { project_id: fn.tenant_id, user_id: fn.user_id });
    }
    return fn;
  }

  /**
   * Takes `payloads` calls of a public function's limit, all or none: 429 with Retry-After when
   * fewer are left, 400 when more than its burst are asked at once (no wait would let them in).
   */
  take(fn: FunctionRecord, res: ServerResponse, payloads: number): void {
    if (!fn.public || !this.limiter.limited) return;
    if (payloads > this.limiter.burst) {
      throw new PrataiError(
        'InvalidParameter',
        `Expected \`payloads\` to hold at most ${this.limiter.burst} payloads in an anonymous call of public function \`${fn.function_id}\` (each takes one call of its rate limit, [api] public_webhook_burst at once), got ${payloads}`,
      );
    }
    this.refuse(fn, res, this.limiter.take(fn.function_id, payloads));
  }

  private refuse(fn: FunctionRecord, res: ServerResponse, wait: number): void {
    if (wait === 0) return;
    res.setHeader('Retry-After', String(wait));
    throw new PrataiError('TooManyRequests', `Function \`${fn.function_id}\` takes at most ${this.deps.settings.api.public_webhook_rate} anonymous calls (payloads) a minute; call again in ${wait} s`);
  }
}

const notFound = (functionId: string): PrataiError => new PrataiError('FunctionNotFound', `No function with id \`${functionId}\``);
