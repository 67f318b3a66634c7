/**
 * Node triggers: a function's node subscriptions (`{"path": "/app/config", "children": false}`
 * among its `subscriptions`), read as callers give them; which of them a write's changes fire;
 * and the request each firing makes, whose payload is the change: `{"type", "path", "zxid"}`.
 *
 * Which changes fire a subscription to P: P's creation (`NodeCreated`), each set of its data
 * (`NodeDataChanged`) and its deletion (`NodeDeleted`, a session's close deleting it as an
 * ephemeral node too); with `children`, also the creation and the deletion of each direct child
 * of P, reported as that child's own `NodeCreated` / `NodeDeleted` with the child's path. That is
 * what ZooKeeper's data and child watches on P fire for, kept after firing, and with the child
 * named (a child watch says only `NodeChildrenChanged` on P). A child's data changes and deeper
 * descendants fire nothing: subscribe to them by their own path.
 *
 * A request's writes may fire a subscription of its own function, or start a ring of functions
 * firing each other. Such a chain is bounded: each request a change makes counts how many made
 * it (`trigger_depth`: an outside write's change makes depth 1, a write of a request at depth n
 * makes n + 1), and past MAX_TRIGGER_DEPTH the request is stored `failed` (`TriggerLoop`) and
 * never run, which ends the chain where its owner sees it (as AWS Lambda stops a recursive loop).
 */
import { newRequest } from '../submit-request.js';
import type { FunctionRecord, NodeSubscription, RequestRecord } from '../domain.js';
import { describeValue, PrataiError } from '../errors.js';
import { validatePath, parentOf } from './paths.js';

/** Longest chain of requests made by node changes, each by a write of the one before: 16, as AWS Lambda's recursive loop detection. */
export const MAX_TRIGGER_DEPTH = 16;

/** Most node subscriptions one function has. */
export const MAX_NODE_SUBSCRIPTIONS = 100;

/** A change a write made that can fire a node subscription. */
export interface NodeChange {
  type: 'NodeCreated' | 'NodeDataChanged' | 'NodeDeleted';
  path: string;
}

/** What a change's request gets as its payload. */
export interface NodeTriggerPayload extends NodeChange {
  zxid: number;
}

const SHAPE = '{"path": "/app/config", "children": false}';

const invalid = (index: number, message: string): PrataiError => new PrataiError('InvalidSubscription', `In \`subscriptions[${index}]\`: ${message}`, { details: { index } });

/** One node subscription as a caller gives it (`index`: its place in `subscriptions`, for the message). */
export function readNodeSubscription(value: unknown, index: number): NodeSubscription {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(index, `expected an event's name or a node subscription ${SHAPE}, got ${describeValue(value)}`);
  }
  const fields = value as Record<string, unknown>;
  const unknown = Object.keys(fields).find((key) => key !== 'path' && key !== 'children');
  if (unknown !== undefined) throw invalid(index, `expected a node subscription ${SHAPE}, got the unknown key \`${unknown}\``);
  if (fields.path === undefined) throw invalid(index, `expected a node subscription ${SHAPE}, got no \`path\``);
  let path: string;
  try {
    path = validatePath(fields.path);
  } catch (error) {
    throw error instanceof PrataiError ? invalid(index, error.message) : error;
  }
  const children = fields.children ?? false;
  if (typeof children !== 'boolean') throw invalid(index, `expected \`children\` to be true or false, got ${describeValue(children)}`);
  return { path, children };
}

/** The paths whose subscriptions a change may fire: its own, and its parent's for a child's creation or deletion. */
export function pathsFiredBy(change: NodeChange): string[] {
  return change.type === 'NodeDataChanged' || change.path === '/' ? [change.path] : [change.path, parentOf(change.path)];
}

/** Whether a change fires a subscription. */
export function fires(change: NodeChange, subscription: NodeSubscription): boolean {
  if (subscription.path === change.path) return true;
  return subscription.children && change.type !== 'NodeDataChanged' && change.path !== '/' && parentOf(change.path) === subscription.path;
}

/**
 * The request a change makes of a subscribed function, at `depth` in its chain: queued, or past
 * MAX_TRIGGER_DEPTH stored failed (`TriggerLoop`) so that it never runs.
 */
export function nodeRequest(fn: Pick<FunctionRecord, 'function_id' | 'tenant_id' | 'user_id'>, payload: NodeTriggerPayload, depth: number, at: string): RequestRecord {
  const request = newRequest(fn, payload, { source: 'node', triggerDepth: depth }, at);
  if (depth <= MAX_TRIGGER_DEPTH) return request;
  return {
    ...request,
    status: 'failed',
    finished_at: at,
    error: {
      type: 'TriggerLoop',
      message: `Not run: it would be request ${depth} of a chain of requests made by node changes, each by a write of the one before (this one by ${payload.type} of ${payload.path} at zxid ${payload.zxid}); a chain stops at ${MAX_TRIGGER_DEPTH}. A function that writes a node it subscribes to triggers itself: write elsewhere, or check the payload before writing`,
      traceback: '',
    },
  };
}
