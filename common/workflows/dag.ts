/**
 * What an invocation does next, decided from its actions' instances alone (a pure function the
 * store calls inside the transaction that records an instance's end, so that whichever runner
 * records the last predecessor of a join starts it, once).
 *
 * An action waits until every predecessor is resolved: succeeded (all its instances) or skipped.
 * It then starts (ranks 1..N) when at least one predecessor succeeded with an edge to it that is
 * plain or on the branch its result took; otherwise it is skipped, which resolves it for its own
 * successors. So a join after a True/False branch runs once the taken side finished (FaaSr never
 * runs it). Once an instance failed nothing new starts, and the invocation fails when nothing runs.
 */
import type { Workflow } from './document.js';

export const INSTANCE_STATUSES = ['pending', 'succeeded', 'failed', 'cancelled', 'skipped'] as const;
export type InstanceStatus = (typeof INSTANCE_STATUSES)[number];

export const INVOCATION_STATUSES = ['running', 'succeeded', 'failed', 'cancelled'] as const;
export type InvocationStatus = (typeof INVOCATION_STATUSES)[number];

/** One action instance as the planner needs it. */
export interface InstanceState {
  action: string;
  rank: number;
  status: InstanceStatus;
  /** Its result for a True/False branch: true, false, or null (not a boolean, or not finished). */
  branch: boolean | null;
}

export interface Plan {
  start: { action: string; maxRank: number }[];
  skip: { action: string; maxRank: number }[];
  /** The invocation's status after this step: final only once no instance is pending. */
  status: InvocationStatus;
}

type ActionState = 'none' | 'pending' | 'succeeded' | 'failed' | 'skipped';

function actionState(instances: readonly InstanceState[]): ActionState {
  if (instances.length === 0) return 'none';
  if (instances.some((i) => i.status === 'pending')) return 'pending';
  if (instances.some((i) => i.status === 'failed' || i.status === 'cancelled')) return 'failed';
  if (instances.every((i) => i.status === 'skipped')) return 'skipped';
  return 'succeeded';
}

/** A ranked action takes its True branch only when every instance returned True. */
const branchOf = (instances: readonly InstanceState[]): boolean => instances.length > 0 && instances.every((i) => i.branch === true);

export function plan(workflow: Workflow, instances: readonly InstanceState[], current: InvocationStatus): Plan {
  const byAction = new Map<string, InstanceState[]>();
  for (const instance of instances) {
    const list = byAction.get(instance.action) ?? [];
    list.push(instance);
    byAction.set(instance.action, list);
  }
  const states = new Map<string, ActionState>();
  for (const name of workflow.actions.keys()) states.set(name, actionState(byAction.get(name) ?? []));
  const anyPending = (): boolean => [...states.values()].includes('pending');
  const failed = [...states.values()].includes('failed');
  const result: Plan = { start: [], skip: [], status: current };
  if (current !== 'running') return result;
  if (failed) {
    if (!anyPending()) result.status = 'failed';
    return result;
  }
  for (let changed = true; changed; ) {
    changed = false;
    for (const [name, action] of workflow.actions) {
      if (states.get(name) !== 'none' || name === workflow.first) continue;
      const preds = workflow.predecessors.get(name) ?? [];
      if (!preds.every((p) => states.get(p) === 'succeeded' || states.get(p) === 'skipped')) continue;
      const activated = preds.some((p) => {
        if (states.get(p) !== 'succeeded') return false;
        const pred = workflow.actions.get(p);
        const taken = branchOf(byAction.get(p) ?? []);
        return (pred?.next ?? []).some((edge) => edge.to === name && (edge.branch === null || edge.branch === taken));
      });
      if (activated) {
        result.start.push({ action: name, maxRank: action.maxRank });
        states.set(name, 'pending');
      } else {
        result.skip.push({ action: name, maxRank: action.maxRank });
        states.set(name, 'skipped');
        changed = true;
      }
    }
  }
  if (!anyPending()) result.status = 'succeeded';
  return result;
}
