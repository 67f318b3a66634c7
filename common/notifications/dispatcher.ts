/**
 * Hands notifications to the subscribers of one process whose filter matches. Most subscribers
 * wait for one request (a sync webhook call, a log follow): they are found by its id in one map
 * look-up, whatever the number of others; the rest (watches of a project or a function) are few.
 */
import type { Notification, NotificationFilter, Subscriber, Subscription } from './notifier.js';
import { subjectOf } from './notifier.js';

interface Entry {
  filter: NotificationFilter;
  subscriber: Subscriber;
}

export class Dispatcher {
  private readonly byRequest = new Map<string, Set<Entry>>();
  private readonly broad = new Set<Entry>();

  get size(): number {
    let count = this.broad.size;
    for (const entries of this.byRequest.values()) count += entries.size;
    return count;
  }

  subscribe(filter: NotificationFilter, subscriber: Subscriber): Subscription {
    const entry: Entry = { filter, subscriber };
    const { requestId } = filter;
    if (requestId === undefined) {
      this.broad.add(entry);
      return { close: () => void this.broad.delete(entry) };
    }
    let entries = this.byRequest.get(requestId);
    if (entries === undefined) this.byRequest.set(requestId, (entries = new Set()));
    entries.add(entry);
    return {
      close: () => {
        entries.delete(entry);
        if (entries.size === 0 && this.byRequest.get(requestId) === entries) this.byRequest.delete(requestId);
      },
    };
  }

  dispatch(notification: Notification): void {
    const subject = subjectOf(notification);
    const targeted = this.byRequest.get(subject.requestId);
    if (targeted !== undefined) for (const entry of [...targeted]) deliver(entry, notification, subject);
    for (const entry of [...this.broad]) deliver(entry, notification, subject);
  }

  /** Tells every subscriber that notifications may have been lost. */
  resync(): void {
    for (const entries of [...this.byRequest.values()]) for (const entry of [...entries]) entry.subscriber.resync?.();
    for (const entry of [...this.broad]) entry.subscriber.resync?.();
  }
}

function deliver(entry: Entry, notification: Notification, subject: ReturnType<typeof subjectOf>): void {
  const { filter } = entry;
  if (!filter.kinds.includes(notification.kind)) return;
  if (filter.tenantId !== undefined && filter.tenantId !== subject.tenantId) return;
  if (filter.functionId !== undefined && filter.functionId !== subject.functionId) return;
  // A subscriber's failure is its own: it must not keep the others from hearing.
  try {
    entry.subscriber.notify(notification);
  } catch {
    // The subscriber reads the store again before it gives up: nothing is lost for it.
  }
}
