/**
 * Who may call a function's webhook. A private function's needs a token of the function's project
 * (`function:invoke`); another project's caller finds no such function (404). A public function's
 * takes anonymous calls, its token is not looked at, and each function's calls are rate-limited
 * (429 with Retry-After). Either way the request then runs as the function's owner.
 *
 * It runs before the body is read: a refused caller costs no body parsing.
 */
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import type { FunctionRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import { authenticateCaller } from './auth.js';
import type { ApiDeps } from './deps.js';
import { authorizeCaller, callerScope } from './policy.js';
import { RateLimiter } from './rate-limit.js';

/**
 * Admits callers of the webhooks of one API process: one rate limit per public function,
 * whichever of its webhooks (latest, a version, an alias) and port is called.
 */
export class WebhookAccess {
  private readonly limiter: RateLimiter;

  constructor(private readonly deps: Pick<ApiDeps, 'store' | 'auth' | 'policy' | 'settings'>) {
    this.limiter = new RateLimiter(deps.settings.api.public_webhook_rate, deps.settings.api.public_webhook_burst);
  }

  /** The function whose webhook is called, once its caller is admitted; `res` gets Retry-After or WWW-Authenticate when refused. */
  async admit(functionId: string, headers: IncomingHttpHeaders, res: ServerResponse): Promise<FunctionRecord> {
    const { store, auth, policy, settings } = this.deps;
    const fn = await store.getFunction(functionId, 'all-tenants');
    if (fn === undefined) throw notFound(functionId);
    if (fn.public) {
      const wait = this.limiter.take(fn.function_id);
      if (wait > 0) {
        res.setHeader('Retry-After', String(wait));
        throw new PrataiError('TooManyRequests', `Function \`${functionId}\` takes at most ${settings.api.public_webhook_rate} anonymous calls a minute; call again in ${wait} s`);
      }
    } else {
      const identity = await authenticateCaller(auth, headers, res);
      const scope = callerScope(policy, identity);
      if (scope !== 'all-tenants' && scope.tenantId !== fn.tenant_id) throw notFound(functionId);
      authorizeCaller(policy, identity, 'function:invoke', { project_id: fn.tenant_id, user_id: fn.user_id });
    }
    return fn;
  }
}

const notFound = (functionId: string): PrataiError => new PrataiError('FunctionNotFound', `No function with id \`${functionId}\``);
