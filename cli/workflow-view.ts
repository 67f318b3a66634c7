/**
 * How the CLI shows workflows: listings, and an invocation's DAG drawn in text, one line per
 * depth (the longest path from the first action) with each action's state, then its edges.
 */
import { Formatted, type Listing, type Shown } from './output.js';

export interface WorkflowView {
  workflow_id: string;
  name: string;
  actions: string[];
  first_action: string;
  status?: string;
  build_log?: string;
  document: { ActionList?: Record<string, { InvokeNext?: unknown }> };
  created_at: string;
  updated_at: string;
}

export interface InstanceView {
  action: string;
  rank: number;
  max_rank: number;
  status: string;
  result: boolean | null;
  request_id: string | null;
  started_at: string | null;
  finished_at: string | null;
}

export interface InvocationView {
  invocation_id: string;
  workflow_id: string;
  InvocationID: string;
  status: string;
  log_folder: string;
  created_at: string;
  finished_at: string | null;
  actions?: InstanceView[];
}

export const workflowListing = (workflows: readonly WorkflowView[]): Listing => ({
  columns: ['ID', 'Name', 'Actions', 'Created At'],
  rows: workflows.map((w) => [w.workflow_id, w.name, w.actions.length, w.created_at]),
});

export function workflowShown(workflow: WorkflowView): Shown {
  const fields = ['workflow_id', 'name', 'status', 'first_action', 'actions', 'created_at', 'updated_at', 'build_log'] as const;
  return { fields: [...fields], values: fields.map((f) => (f === 'actions' ? new Formatted(workflow.actions, workflow.actions.join(', ')) : (workflow[f] ?? ''))) };
}

export const invocationListing = (invocations: readonly InvocationView[]): Listing => ({
  columns: ['ID', 'InvocationID', 'Status', 'Created At', 'Finished At'],
  rows: invocations.map((i) => [i.invocation_id, i.InvocationID, i.status, i.created_at, i.finished_at ?? '']),
});

export const instanceName = (instance: InstanceView): string => (instance.max_rank > 1 ? `${instance.action}(${instance.rank}/${instance.max_rank})` : instance.action);

export const instanceListing = (instances: readonly InstanceView[]): Listing => ({
  columns: ['Action', 'Rank', 'Status', 'Result', 'Request ID', 'Started At', 'Finished At'],
  rows: instances.map((i) => [i.action, i.max_rank > 1 ? `${i.rank}/${i.max_rank}` : '', i.status, i.result ?? '', i.request_id ?? '', i.started_at ?? '', i.finished_at ?? '']),
});

interface Edge {
  to: string;
  branch: string;
}

function edgesOf(document: WorkflowView['document']): Map<string, Edge[]> {
  const edges = new Map<string, Edge[]>();
  const name = (target: unknown): string => String(target).replace(/\(\d+\)$/, '');
  for (const [action, spec] of Object.entries(document.ActionList ?? {})) {
    const list: Edge[] = [];
    const next = Array.isArray(spec.InvokeNext) ? spec.InvokeNext : spec.InvokeNext === undefined ? [] : [spec.InvokeNext];
    for (const entry of next as unknown[]) {
      if (typeof entry === 'object' && entry !== null) {
        for (const [branch, targets] of Object.entries(entry)) for (const target of Array.isArray(targets) ? targets : [targets]) list.push({ to: name(target), branch });
      } else list.push({ to: name(entry), branch: '' });
    }
    edges.set(action, list);
  }
  return edges;
}

const MARKS: Record<string, string> = { succeeded: '✓', failed: '✗', timeout: '✗', cancelled: '⊘', skipped: '-', running: '▶', queued: '…' };

/** The DAG with each action's state: `first` at depth 1, every action at its longest path. */
export function drawDag(document: WorkflowView['document'], first: string, instances: readonly InstanceView[]): string {
  const edges = edgesOf(document);
  const depth = new Map<string, number>([[first, 1]]);
  for (let changed = true, rounds = 0; changed && rounds <= edges.size; rounds += 1) {
    changed = false;
    for (const [from, list] of edges) {
      const d = depth.get(from);
      if (d === undefined) continue;
      for (const edge of list) {
        if ((depth.get(edge.to) ?? 0) < d + 1) {
          depth.set(edge.to, d + 1);
          changed = true;
        }
      }
    }
  }
  const stateOf = (action: string): string => {
    const mine = instances.filter((i) => i.action === action);
    if (mine.length === 0) return 'not started';
    const statuses = [...new Set(mine.map((i) => i.status))];
    const result = mine.length === 1 && mine[0]?.result !== null && mine[0]?.result !== undefined ? ` → ${String(mine[0].result)}` : '';
    return mine.length > 1 ? `${statuses.map((s) => `${mine.filter((i) => i.status === s).length}×${s}`).join(' ')}` : `${statuses[0] ?? ''}${result}`;
  };
  const byDepth = new Map<number, string[]>();
  for (const [action, d] of depth) byDepth.set(d, [...(byDepth.get(d) ?? []), action]);
  const lines: string[] = [];
  for (const d of [...byDepth.keys()].sort((a, b) => a - b)) {
    const cells = (byDepth.get(d) ?? []).sort().map((action) => {
      const state = stateOf(action);
      return `${MARKS[state.split(' ')[0]?.replace(/^\d+×/, '') ?? ''] ?? '·'} ${action} [${state}]`;
    });
    lines.push(`${String(d).padStart(2)}  ${cells.join('   ')}`);
  }
  lines.push('');
  for (const [from, list] of edges) {
    if (list.length === 0) continue;
    lines.push(`  ${from} ${list.map((e) => (e.branch ? `-${e.branch}-> ${e.to}` : `-> ${e.to}`)).join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}
