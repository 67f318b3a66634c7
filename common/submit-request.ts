/**
 * How every request comes to be, whatever made it (a webhook call, a bulk call, an event's
 * message, a timer's tick): stored `queued`, its run job published (each with a new job_id), its
 * creation announced on the notifier and counted in `pratai_requests_accepted_total`. A 202 means
 * the job is queued durably: if a job cannot be published, the requests are removed again and the
 * caller gets 503, all or none.
 */
import { isFinal, runJob, type FunctionRecord, type RequestRecord, type RequestSource, type VersionRef } from './domain.js';
import { PrataiError } from './errors.js';
import { newId, now } from './ids.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { requestChange, type Notifier } from './notifications/notifier.js';
import type { JobQueue } from './queue/queue.js';
import type { Store } from './store/store.js';

export interface SubmitDeps {
  store: Store;
  queue: JobQueue;
  notifier: Notifier;
  metrics: Metrics;
}

/** Where a request came from, beyond its function and payload. */
export interface RequestOrigin {
  source: RequestSource;
  /** The timer whose tick made it. */
  timerId?: string;
  /** That tick's instant (ISO). */
  scheduledAt?: string;
  /** The version it runs (resolved when accepted); `latest` when absent. */
  version?: VersionRef;
  /** The alias it came through. */
  alias?: string | null;
  /** The webhook call's headers let through to the function (`[api] context_headers`). */
  headers?: Record<string, string>;
  /** A node change's request: its place in a chain of them (common/coordination/triggers.ts). */
  triggerDepth?: number;
}

/** A new request of `fn`, queued, not yet stored. */
export function newRequest(fn: Pick<FunctionRecord, 'function_id' | 'tenant_id' | 'user_id'>, payload: unknown, origin: RequestOrigin, at: string = now()): RequestRecord {
  return {
    request_id: newId(),
    function_id: fn.function_id,
    tenant_id: fn.tenant_id,
    user_id: fn.user_id,
    status: 'queued',
    source: origin.source,
    timer_id: origin.timerId ?? null,
    scheduled_at: origin.scheduledAt ?? null,
    payload,
    response: null,
    error: null,
    logs: [],
    attempts: 0,
    dead_letter: false,
    version: origin.version ?? 'latest',
    alias: origin.alias ?? null,
    created_at: at,
    started_at: null,
    finished_at: null,
    duration_ms: null,
    ...(origin.headers !== undefined && Object.keys(origin.headers).length > 0 && { headers: origin.headers }),
    ...(origin.triggerDepth !== undefined && { trigger_depth: origin.triggerDepth }),
  };
}

const publishRun = (queue: JobQueue, request: RequestRecord): Promise<void> => queue.publish(runJob(request, newId()));

/** Announces an accepted request and counts it. */
function accepted(deps: Pick<SubmitDeps, 'notifier' | 'metrics'>, request: RequestRecord): void {
  deps.notifier.publish({ kind: 'request', request: requestChange(request) });
  deps.metrics.requestsAccepted.inc({ function: request.function_id });
}

/**
 * Stores the requests and publishes their run jobs: all accepted, or none (a job that cannot be
 * published removes every one of them, and a job already published finds its request gone and
 * is acked without running). `beforePublish` runs once they are stored, before any job is out:
 * a caller that waits for an outcome subscribes there, so that it cannot miss it.
 */
export async function submitRequests(deps: SubmitDeps, requests: readonly RequestRecord[], options: { beforePublish?: () => void } = {}): Promise<void> {
  const { store, queue } = deps;
  if (requests.length === 0) return;
  // One request, the webhook's hot path, is one precompiled insert.
  await (requests.length === 1 && requests[0] !== undefined ? store.createRequest(requests[0]) : store.createRequests(requests));
  options.beforePublish?.();
  try {
    await Promise.all(requests.map((request) => publishRun(queue, request)));
  } catch (error) {
    await Promise.all(requests.map((request) => store.discardRequest(request.request_id)));
    throw error instanceof PrataiError ? error : new PrataiError('ServiceUnavailable', `The request could not be queued: ${(error as Error).message}`, { cause: error });
  }
  for (const request of requests) accepted(deps, request);
}

/**
 * Publishes the run jobs of requests stored already (a timer's tick stores its request with its
 * claim, a coordination write the requests of the node changes it made). One that cannot be
 * published stays queued: a runner's sweeper publishes it after `[runner] requeue_after`, so that
 * a claimed tick is late rather than lost. One stored final already (a node change's request past
 * its chain's bound) has no job: it is only announced.
 */
export async function publishStoredRequests(deps: Omit<SubmitDeps, 'store'> & { log: Logger }, requests: readonly RequestRecord[]): Promise<void> {
  await Promise.all(
    requests.map(async (request) => {
      if (isFinal(request.status)) {
        // Never accepted to run: its change is announced, and it is counted neither accepted nor finished.
        deps.notifier.publish({ kind: 'request', request: requestChange(request) });
        return;
      }
      try {
        await publishRun(deps.queue, request);
      } catch (error) {
        deps.log.warning(`request ${request.request_id} left to the sweeper: its job could not be published (${(error as Error).message})`);
        return;
      }
      accepted(deps, request);
    }),
  );
}
