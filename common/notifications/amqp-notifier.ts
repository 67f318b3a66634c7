/**
 * AmqpNotifier: the notification port over RabbitMQ, for platforms of many processes. No extra
 * service: a topic exchange `<control_exchange>.notifications` on the broker the jobs use.
 *
 * - Publishing is fire and forget: transient messages, no confirms (a notification is a hint; the
 *   store holds the change). While the connection is down, notifications wait in a bounded buffer
 *   and go out once it is back; past the bound the oldest are dropped. A connection is known to be
 *   lost only some time after it was: what was sent in the last RESEND_WINDOW_MS before that is
 *   sent again after the reconnection (subscribers take a notification twice without harm: log
 *   records are numbered, request changes are states).
 * - What one process publishes in one turn of its event loop goes out as one message, a JSON array
 *   of notifications (routing key `notifications`): under load a message carries many, and the
 *   broker's and the listeners' cost per notification falls.
 * - A listening process (an API process) has one exclusive, auto-deleted queue bound to the
 *   exchange, and hands what arrives to its local subscribers (Dispatcher). A process that only
 *   publishes (a runner) declares no queue.
 * - After a reconnection the queue is new and whatever was sent meanwhile is gone: every local
 *   subscriber is told to resync (read the store again).
 */
import type { Channel, ChannelModel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import { connectBroker } from '../amqp/connection.js';
import { Dispatcher } from './dispatcher.js';
import type { Notification, NotificationFilter, Notifier, Subscriber, Subscription } from './notifier.js';

export interface AmqpNotifierOptions {
  /** The topic exchange, declared if missing. */
  exchange: string;
  /** Whether this process hears notifications (it has subscribers); a runner only publishes. */
  listen: boolean;
  /** Names the connection in the broker's management views. */
  connectionName?: string;
  /** Notifications kept while the broker is unreachable (default 10,000). */
  bufferLimit?: number;
  /** Told what no caller can be: a lost connection, a dropped notification. */
  onEvent?: (message: string) => void;
}

/** Unread notifications a listening queue holds at most; a process that far behind resyncs anyway. */
const QUEUE_MAX_LENGTH = 100_000;
const QUEUE_MESSAGE_TTL_MS = 60_000;
/** Longer than a lost connection takes to be noticed (a closed socket) on loopback and a LAN. */
const RESEND_WINDOW_MS = 2_000;

const ROUTING_KEY = 'notifications';

export class AmqpNotifier implements Notifier {
  private readonly dispatcher = new Dispatcher();
  private channel: Channel | undefined;
  private readonly buffer: Notification[] = [];
  /**
   * What was sent lately, in case the connection was already lost (see RESEND_WINDOW_MS): two
   * generations, the older dropped as each window ends, so that keeping them costs a push.
   */
  private sentBefore: Notification[] = [];
  private sentNow: Notification[] = [];
  private windowEndsAt = 0;
  private connections = 0;
  private dropped = 0;
  private closed = false;
  private connection: RecoveringChannelModel | undefined;

  private constructor(private readonly options: AmqpNotifierOptions) {}

  static async connect(transportUrl: string, options: AmqpNotifierOptions): Promise<AmqpNotifier> {
    const notifier = new AmqpNotifier(options);
    notifier.connection = await connectBroker(transportUrl, {
      connectionName: options.connectionName ?? `pratai ${options.exchange}`,
      setup: (model) => notifier.onConnect(model),
      onDisconnect: (error) => {
        notifier.channel = undefined;
        notifier.holdRecent();
        notifier.report(`lost the message broker (notifications): ${error.message}; reconnecting`);
      },
      report: (message) => notifier.report(message),
    });
    return notifier;
  }

  private async onConnect(model: ChannelModel): Promise<void> {
    const channel = await model.createChannel();
    const { exchange } = this.options;
    await channel.assertExchange(exchange, 'topic', { durable: true });
    if (this.options.listen) {
      const { queue } = await channel.assertQueue('', {
        exclusive: true,
        autoDelete: true,
        arguments: { 'x-max-length': QUEUE_MAX_LENGTH, 'x-message-ttl': QUEUE_MESSAGE_TTL_MS },
      });
      await channel.bindQueue(queue, exchange, ROUTING_KEY);
      await channel.consume(queue, (message) => message && this.receive(message), { noAck: true });
    }
    channel.on('close', () => {
      if (this.channel === channel) this.channel = undefined;
    });
    this.channel = channel;
    this.connections += 1;
    this.send(channel, this.buffer.splice(0));
    if (this.dropped > 0) {
      this.report(`${this.dropped} notification(s) were dropped while the broker was unreachable; their subscribers read the store instead`);
      this.dropped = 0;
    }
    // What other processes published while this one was away never reaches the new queue.
    if (this.connections > 1) this.dispatcher.resync();
  }

  private receive(message: ConsumeMessage): void {
    let notifications: unknown;
    try {
      notifications = JSON.parse(message.content.toString('utf8'));
    } catch {
      return;
    }
    if (!Array.isArray(notifications)) return;
    for (const notification of notifications as Notification[]) this.dispatcher.dispatch(notification);
  }

  /** The connection is gone: what it may have lost is sent again (first) on the next one. */
  private holdRecent(): void {
    this.buffer.unshift(...this.sentBefore, ...this.sentNow);
    this.sentBefore = [];
    this.sentNow = [];
  }

  private send(channel: Channel, notifications: Notification[]): void {
    if (notifications.length === 0) return;
    const now = Date.now();
    if (now >= this.windowEndsAt) {
      this.sentBefore = now - this.windowEndsAt < RESEND_WINDOW_MS ? this.sentNow : [];
      this.sentNow = [];
      this.windowEndsAt = now + RESEND_WINDOW_MS;
    }
    this.sentNow.push(...notifications);
    try {
      channel.publish(this.options.exchange, ROUTING_KEY, Buffer.from(JSON.stringify(notifications)), { contentType: 'application/json' });
    } catch {
      // The channel closed under us: keep them for the next connection.
      this.hold(notifications);
    }
  }

  private hold(notifications: Notification[]): void {
    this.buffer.push(...notifications);
    const excess = this.buffer.length - (this.options.bufferLimit ?? 10_000);
    if (excess > 0) {
      this.buffer.splice(0, excess);
      this.dropped += excess;
    }
  }

  /** Notifications published in this turn of the event loop, sent together at its end. */
  private batch: Notification[] = [];

  private readonly flush = (): void => {
    const notifications = this.batch;
    this.batch = [];
    if (this.closed) return;
    if (this.channel === undefined) this.hold(notifications);
    else this.send(this.channel, notifications);
  };

  publish(notification: Notification): void {
    if (this.closed) return;
    // A final request's outcome stays in its process (notifier.ts): the broker carries the change.
    const sent = notification.kind === 'request' && notification.outcome !== undefined ? { kind: notification.kind, request: notification.request } : notification;
    if (this.batch.push(sent) === 1) setImmediate(this.flush);
  }

  subscribe(filter: NotificationFilter, subscriber: Subscriber): Subscription {
    if (!this.options.listen) throw new Error('this AmqpNotifier was opened without listen: it cannot have subscribers');
    return this.dispatcher.subscribe(filter, subscriber);
  }

  private report(message: string): void {
    this.options.onEvent?.(message);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channel = undefined;
    await this.connection?.close().catch(() => undefined);
  }
}
