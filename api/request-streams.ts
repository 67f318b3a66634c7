/**
 * The API's live views of requests, fed by the notifier and checked against the store:
 * - a request's logs followed while it runs (`GET /v1/requests/ID/logs?follow=true`);
 * - a project's (or a function's) requests watched as they change (`GET /v1/requests` with
 *   `Accept: text/event-stream`).
 * Both subscribe before they read the store, so no change falls between the two, and read the
 * store again whenever notifications may have been lost.
 */
import { isFinal, type LogRecord, type RequestRecord, type RequestStatus } from '../common/domain.js';
import type { Scope, Store } from '../common/store/store.js';
import { requestChange, type Notification, type Notifier, type RequestChange } from '../common/notifications/notifier.js';
import type { EventStream } from './event-stream.js';

/** One log record a line: `2026-11-24T02:33:29.123Z INFO [pratai] message`. */
export const logsAsText = (logs: readonly LogRecord[]): string =>
  logs.map((record) => `${record.time} ${record.level} [${record.source}] ${record.message}\n`).join('');

/** A follow that heard nothing for this long reads the store, in case its request's end was not heard. */
const FOLLOW_CHECK_MS = 30_000;

export interface Followers {
  store: Store;
  notifier: Notifier;
}

/**
 * Writes a request's log records as its function writes them, attempt after attempt, and ends
 * when the request is final. A follow that joins a running attempt writes its records from then
 * on; those written before it joined come when the attempt ends, from the stored logs, so every
 * record of the final attempt is written exactly once.
 */
export async function followLogs({ store, notifier }: Followers, stream: EventStream, requestId: string, format: 'events' | 'text'): Promise<void> {
  let attempt = 0;
  /** Positions of the current attempt's records written so far. */
  let written = new Set<number>();
  let checking: Promise<void> | undefined;

  const write = (records: readonly LogRecord[], first: number): void => {
    records.forEach((record, offset) => {
      const index = first + offset;
      if (written.has(index)) return;
      written.add(index);
      if (format === 'events') stream.event('log', { attempt, index, ...record }, `${attempt}:${index}`);
      else stream.text(logsAsText([record]));
    });
  };
  const startAttempt = (next: number): void => {
    if (next <= attempt) return;
    attempt = next;
    written = new Set();
    if (format === 'events') stream.event('attempt', { attempt });
  };
  const finish = (request: RequestRecord): void => {
    startAttempt(request.attempts);
    write(request.logs, 0);
    if (format === 'events') stream.event('end', requestChange(request));
    stream.end();
  };
  /** Reads the store; ends the stream if the request is final (or gone). */
  const check = (): Promise<void> =>
    (checking ??= store
      .getRequest(requestId, 'all-tenants')
      .then((request) => {
        if (request === undefined) stream.end();
        else if (isFinal(request.status)) finish(request);
      })
      .catch(() => undefined)
      .finally(() => (checking = undefined)));

  const onNotification = (notification: Notification): void => {
    if (notification.kind === 'log') {
      startAttempt(notification.attempt);
      if (notification.attempt === attempt) write(notification.records, notification.index);
    } else if (notification.kind !== 'request') {
      // Not about requests: the follow subscribed to none of those.
    } else if (isFinal(notification.request.status)) {
      void check();
    } else if (notification.request.status === 'running') {
      startAttempt(notification.request.attempts);
    }
  };

  const subscription = notifier.subscribe({ kinds: ['request', 'log'], requestId }, { notify: onNotification, resync: () => void check() });
  const safety = setInterval(() => void check(), FOLLOW_CHECK_MS);
  stream.closed.addEventListener('abort', () => {
    subscription.close();
    clearInterval(safety);
  });
  const request = await store.getRequest(requestId, 'all-tenants');
  if (request === undefined) return stream.end();
  if (isFinal(request.status)) return finish(request);
  // What the store holds of an unfinished request is its last ended attempt's logs (a retry's).
  if (request.logs.length > 0) {
    const ended = request.status === 'running' ? request.attempts - 1 : request.attempts;
    startAttempt(ended);
    write(request.logs, 0);
  }
  if (request.status === 'running') startAttempt(request.attempts);
}

export interface WatchFilter {
  scope: Scope;
  functionId?: string;
  status?: RequestStatus;
  /** How many of the newest requests are sent first (and again after a resync). */
  limit: number;
}

/**
 * Sends the newest requests matching the filter, then each change to one as it is stored, until
 * the client leaves. Every `request` event is the request's whole summary: a client keeps the
 * last one it got for each id. After a resync the newest are sent again.
 */
export async function watchRequests({ store, notifier }: Followers, stream: EventStream, filter: WatchFilter): Promise<void> {
  const send = (change: RequestChange): void => {
    if (filter.status !== undefined && change.status !== filter.status) return;
    stream.event('request', change, change.request_id);
  };
  const sendNewest = async (): Promise<void> => {
    const requests = await store.listRequests(filter.scope, {
      limit: filter.limit,
      ...(filter.functionId !== undefined && { functionId: filter.functionId }),
      ...(filter.status !== undefined && { status: filter.status }),
    });
    for (const request of requests.reverse()) send(requestChange(request));
  };
  const subscription = notifier.subscribe(
    {
      kinds: ['request'],
      ...(filter.scope !== 'all-tenants' && { tenantId: filter.scope.tenantId }),
      ...(filter.functionId !== undefined && { functionId: filter.functionId }),
    },
    {
      notify: (notification) => {
        if (notification.kind === 'request') send(notification.request);
      },
      resync: () => void sendNewest().catch(() => stream.end()),
    },
  );
  stream.closed.addEventListener('abort', () => subscription.close());
  await sendNewest();
  stream.event('ready', { watching: true });
}
