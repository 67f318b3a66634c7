/**
 * The services a running function may call over its channel (protocol 5, runtimes/README.md):
 * what a container without network nor keys reaches through its runner — object storage for
 * workflows, coordination. Each capability registers one service under a name; the runner hands
 * every run a handler that routes the function's calls to them with the request they come from.
 */
import type { FunctionRecord, RequestRecord } from '../common/domain.js';
import { FunctionCallError, type FunctionCall } from './container-runtime.js';

/** Whom a call comes from: the request (its tenant is the only one a service may act in) and its function. */
export interface Caller {
  request: RequestRecord;
  fn: FunctionRecord;
}

export interface FunctionService {
  /** Resolves with a JSON result; throws FunctionCallError for what the function should see by name. */
  call(method: string, args: Record<string, unknown>, caller: Caller): Promise<unknown>;
  /** The caller's run ended, however it ended: release what the service holds for it (a coordination session). Never throws. */
  ended?(caller: Caller): Promise<void>;
}

export type FunctionServices = ReadonlyMap<string, FunctionService>;

export function callHandler(services: FunctionServices, caller: Caller): (call: FunctionCall) => Promise<unknown> {
  return async ({ service, method, args }) => {
    const target = services.get(service);
    if (target === undefined) throw new FunctionCallError('UnknownService', `No service \`${service}\` on this runner; expected one of: ${[...services.keys()].join(', ') || 'none'}`);
    return target.call(method, args, caller);
  };
}

/** Tells every service that a run ended; resolves once each has released what it held for it. */
export async function endCalls(services: FunctionServices | undefined, caller: Caller): Promise<void> {
  if (services === undefined) return;
  await Promise.all([...services.values()].map(async (service) => service.ended?.(caller).catch(() => undefined)));
}
