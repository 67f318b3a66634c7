/** LocalNotifier: the notification port within one process (the all-in-one `pratai-server`). */
import { Dispatcher } from './dispatcher.js';
import type { Notification, NotificationFilter, Notifier, Subscriber, Subscription } from './notifier.js';

export class LocalNotifier implements Notifier {
  private readonly dispatcher = new Dispatcher();

  publish(notification: Notification): void {
    // After the publisher's turn: it never runs a subscriber's work inside its own (a runner's
    // finish, a store transaction's callback), as a broker would not either.
    queueMicrotask(() => this.dispatcher.dispatch(notification));
  }

  subscribe(filter: NotificationFilter, subscriber: Subscriber): Subscription {
    return this.dispatcher.subscribe(filter, subscriber);
  }

  async close(): Promise<void> {
    // Nothing to release: subscribers close their own subscriptions.
  }
}
