/**
 * The notification port: how a change reaches whoever waits for it, instead of being polled for.
 * Runners announce a request's start, its log records as they are written and its outcome; the
 * API announces what it changes (a new request, a cancel, a redrive). Waiters — the sync webhook,
 * a follow of a request's logs, a watch of a project's requests — subscribe.
 *
 * Notifications are hints, never the record: the store is. They are sent after the change is
 * stored, at most once, and may be lost (a broker connection that drops). A subscriber therefore
 * reads the store when it hears of a change that matters to it, when it is told that it may have
 * missed some (`onResync`, after a reconnection), and once before it gives up waiting. One
 * exception saves that read where it is on a caller's path: a runner's final notification
 * carries the outcome it stored (`outcome`) within its own process, so that a sync webhook there
 * answers from it; across processes (AmqpNotifier) it is left out and the waiter reads the store.
 *
 * Adapters: LocalNotifier (in one process), AmqpNotifier (RabbitMQ topic exchange, for many
 * processes); test/notifier-contract.ts holds both to the same behaviour.
 */
import type { LogRecord, RequestRecord, RequestStatus } from '../domain.js';

/** A final request's outcome as stored: what a sync caller is answered. */
export type StoredOutcome = Pick<RequestRecord, 'response' | 'error'>;

/** What a watcher of requests sees of one: its status and times, never its payload, response or logs. */
export interface RequestChange {
  request_id: string;
  function_id: string;
  tenant_id: string;
  status: RequestStatus;
  attempts: number;
  dead_letter: boolean;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
}

export type Notification =
  /**
   * A request was stored with a new status (or a new attempt); a final one, published by the
   * runner that stored it, may carry what it stored (only in-process: see the file's comment).
   */
  | { kind: 'request'; request: RequestChange; outcome?: StoredOutcome }
  /**
   * Log records of a running attempt, as the function wrote them; `index` is the first one's
   * position among the attempt's records, which the stored logs hold in the same order once the
   * attempt ends.
   */
  | { kind: 'log'; request_id: string; function_id: string; tenant_id: string; attempt: number; index: number; records: LogRecord[] }
  /** A coordination write (zxid) fired watches of these sessions of the project: they have events to take from the store. */
  | { kind: 'coordination'; tenant_id: string; zxid: number; sessions: string[] };

export type NotificationKind = Notification['kind'];

/** Which notifications a subscriber hears; every field given must match. */
export interface NotificationFilter {
  kinds: readonly NotificationKind[];
  tenantId?: string;
  functionId?: string;
  requestId?: string;
}

export interface Subscriber {
  notify(notification: Notification): void;
  /** Notifications may have been lost (the broker connection came back): read the store again. */
  resync?(): void;
}

export interface Subscription {
  close(): void;
}

export interface Notifier {
  /** Fire and forget: never throws, never waits for a broker (see the file's comment on loss). */
  publish(notification: Notification): void;
  /** Effective at once: a change published after subscribe() returns reaches the subscriber, unless lost. */
  subscribe(filter: NotificationFilter, subscriber: Subscriber): Subscription;
  close(): Promise<void>;
}

export function requestChange(request: Pick<RequestRecord, keyof RequestChange>): RequestChange {
  const { request_id, function_id, tenant_id, status, attempts, dead_letter, created_at, started_at, finished_at, duration_ms } = request;
  return { request_id, function_id, tenant_id, status, attempts, dead_letter, created_at, started_at, finished_at, duration_ms };
}

/** The ids a notification is about, whatever its kind. */
export function subjectOf(notification: Notification): { tenantId: string; functionId: string; requestId: string } {
  if (notification.kind === 'coordination') return { tenantId: notification.tenant_id, functionId: '', requestId: '' };
  const { tenant_id, function_id, request_id } = notification.kind === 'request' ? notification.request : notification;
  return { tenantId: tenant_id, functionId: function_id, requestId: request_id };
}
