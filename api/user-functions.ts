/**
 * The functions a user may name: every function the caller can see but a workflow's hidden one
 * (`_workflow.<workflow_id>`), which is the workflow's business, shown and changed through
 * /v1/workflows. Whatever names a function (its own routes, a webhook, a job, a version or an
 * alias, a subscription through the function's PATCH) finds a hidden one as it finds one that
 * does not exist: 404 FunctionNotFound.
 */
import type { FunctionRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import type { Scope, Store } from '../common/store/store.js';
import { isWorkflowFunction } from '../common/workflows/code.js';

export const functionNotFound = (ref: string, what = 'id'): PrataiError => new PrataiError('FunctionNotFound', `No function with ${what} \`${ref}\` in this project`);

/** The function of that id in `scope`, unless it is gone or hidden. */
export async function userFunction(store: Store, functionId: string, scope: Scope): Promise<FunctionRecord | undefined> {
  const fn = await store.getFunction(functionId, scope);
  return fn === undefined || isWorkflowFunction(fn) ? undefined : fn;
}

/** The user's functions of `scope`, without the hidden ones. */
export async function userFunctions(store: Store, scope: Scope): Promise<FunctionRecord[]> {
  return (await store.listFunctions(scope)).filter((fn) => !isWorkflowFunction(fn));
}
