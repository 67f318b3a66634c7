/**
 * What a run hands the function beside its payload (`context` in the `run` message,
 * runtimes/README.md): its context values, the values of the secrets it names (opened now, in its
 * own project), the request's facts, and a token of its OpenStack identity when it has one.
 * Made afresh for every run and sent over the channel only: a secret changed, or a context
 * PATCHed, reaches the next request without a new image or container, and no value is ever in a
 * container's environment (`docker inspect`) nor in an image.
 */
import type { FunctionRecord, RequestRecord } from '../common/domain.js';
import { PrataiError, type ErrorCode } from '../common/errors.js';
import type { Keyring } from '../common/secrets/keyring.js';
import { resolveSecrets } from '../common/secrets/resolve.js';
import type { Store } from '../common/store/store.js';
import type { OpenStackContext, RunContext } from './container-runtime.js';
import { NO_REDACTION, Redactor } from './redaction.js';

/** Gets a function's OpenStack token for one run; throws TrustInvalid when its trust is gone. */
export interface FunctionIdentities {
  tokenFor(fn: FunctionRecord): Promise<OpenStackContext>;
}

export interface RunContextDeps {
  store: Store;
  /** Opens the secrets' values; without one, a function naming secrets cannot run here. */
  keyring?: Keyring;
  /** Without it (auth_strategy noauth), a function with an OpenStack identity cannot run here. */
  identities?: FunctionIdentities;
}

export type PreparedRun =
  | { ok: true; context: RunContext; redactor: Redactor }
  /** The request cannot run, and running it again would not help: it ends failed with this error. */
  | { ok: false; type: ErrorCode; message: string };

/** Errors that end the request rather than retry it: the operator or the user must act first. */
const FINAL: readonly ErrorCode[] = ['TrustInvalid', 'SecretKeyMissing', 'UnknownSecret'];

export async function prepareRun(deps: RunContextDeps, fn: FunctionRecord, request: RequestRecord): Promise<PreparedRun> {
  try {
    const secrets = fn.secrets.length === 0 ? {} : await openSecrets(deps, fn);
    const openstack = fn.openstack === undefined ? undefined : await tokenFor(deps, fn);
    const context: RunContext = {
      values: fn.context,
      secrets,
      function_id: fn.function_id,
      function_name: fn.name,
      attempt: request.attempts,
      headers: request.headers ?? {},
      ...(openstack && { openstack }),
    };
    const values = Object.values(secrets);
    // A token is as good as a password while it lives: kept out of what is stored too.
    if (openstack) values.push(openstack.token);
    return { ok: true, context, redactor: values.length === 0 ? NO_REDACTION : new Redactor(values) };
  } catch (error) {
    if (error instanceof PrataiError && FINAL.includes(error.code)) return { ok: false, type: error.code, message: error.message };
    throw error;
  }
}

function openSecrets(deps: RunContextDeps, fn: FunctionRecord): Promise<Record<string, string>> {
  if (deps.keyring === undefined) throw new PrataiError('SecretKeyMissing', 'This runner has no [secrets] keys: it cannot open the secrets the function names');
  // The function's own project: a name is looked up nowhere else.
  return resolveSecrets(deps.store, deps.keyring, fn.tenant_id, fn.secrets);
}

function tokenFor(deps: RunContextDeps, fn: FunctionRecord): Promise<OpenStackContext> {
  if (deps.identities === undefined) {
    throw new PrataiError('TrustInvalid', 'The function has an OpenStack identity, but this runner has no Keystone ([DEFAULT] auth_strategy is not keystone): no token can be made for it');
  }
  return deps.identities.tokenFor(fn);
}
