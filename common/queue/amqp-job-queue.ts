/**
 * AmqpJobQueue: the JobQueue port over RabbitMQ (amqplib), for platforms whose API processes and
 * runners are separate and share a broker.
 *
 * - Jobs live in a durable quorum queue `<name>`; messages are persistent and every publish waits
 *   for the broker's confirm, so a resolved publish() survives a broker restart.
 * - Consumers ack manually; a consumer's channel has the prefetch it asks for (a runner's is
 *   [runner] prefetch). A job whose channel dies unacked (runner killed, connection lost) is
 *   delivered again by the broker, and the quorum queue counts it in `x-delivery-count`.
 * - retry(delay) republishes the job to `<name>.delay.<ms>`, a queue whose messages expire after
 *   `ms` and are dead-lettered back to `<name>`, then acks the original; the deliveries so far
 *   travel in the `x-pratai-deliveries` header. Callers keep to a few distinct delays: each is a queue.
 * - deadLetter() rejects the job without requeue: the broker moves it to `<name>.dead`, which
 *   nothing consumes; operators read (or shovel back) what lands there.
 * - The connection recovers by itself with backoff (amqplib's recovery); while it is down,
 *   publish() and ping() fail at once with ServiceUnavailable (the API answers 503), and
 *   consumers are attached again once it is back.
 */
import type { Channel, ConfirmChannel, ConsumeMessage, RecoveringChannelModel } from 'amqplib';
import { amqpUrl, brokerOf, connectBroker } from '../amqp/connection.js';
import type { Job } from '../domain.js';
import { PrataiError } from '../errors.js';
import type { Consumer, Delivery, JobHandler, JobQueue } from './queue.js';

export interface AmqpOptions {
  /** Name of the jobs queue; `<name>.dead` and `<name>.delay.<ms>` are derived from it. */
  queue: string;
  /** A publish not confirmed within this time fails (the broker is blocked or gone). */
  publishTimeoutMs?: number;
  /** Names the connection in the broker's management views (`rabbitmqctl list_connections`). */
  connectionName?: string;
  /** Called with what the queue cannot report to a caller (a reconnect, a lost channel). */
  onEvent?: (message: string) => void;
}

const DELIVERIES_HEADER = 'x-pratai-deliveries';
const HANDLER_FAILURE_RETRY_MS = 1000;
const DEFAULT_PUBLISH_TIMEOUT_MS = 10_000;

class AmqpConsumer implements Consumer {
  private channel: Channel | undefined;
  private tag: string | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;
  /** Deliveries on the current channel neither acked nor retried yet. */
  unsettled = 0;
  /** The `lost` signals of the unsettled deliveries, by channel: aborted when it closes. */
  private readonly losable = new Map<Channel, Set<AbortController>>();

  constructor(
    private readonly owner: AmqpJobQueue,
    private readonly handler: JobHandler,
    private readonly prefetch: number,
  ) {}

  /** Opens a channel on a (new) connection and starts consuming. */
  async attach(model: { createChannel(): Promise<Channel> }): Promise<void> {
    if (this.stopped) return;
    const channel = await model.createChannel();
    await channel.prefetch(this.prefetch);
    this.channel = channel;
    this.unsettled = 0;
    const losable = new Set<AbortController>();
    this.losable.set(channel, losable);
    channel.on('close', () => {
      // Whatever it held unsettled is back in the queue (or will be, once the broker notices),
      // and goes to a consumer again: what still runs for it here stops.
      if (this.channel === channel) this.unsettled = 0;
      this.losable.delete(channel);
      for (const controller of losable) controller.abort(new Error('the connection to the message broker was lost'));
    });
    const { consumerTag } = await channel.consume(this.owner.queueName, (message) => message && this.deliver(channel, message), { noAck: false });
    this.tag = consumerTag;
  }

  private deliver(channel: Channel, message: ConsumeMessage): void {
    let settled = false;
    this.unsettled += 1;
    const lost = new AbortController();
    this.losable.get(channel)?.add(lost);
    const settle = (): boolean => {
      if (settled) throw new Error('this delivery was acked or retried already');
      settled = true;
      this.losable.get(channel)?.delete(lost);
      const live = channel === this.channel;
      if (live) this.unsettled -= 1;
      return live;
    };
    const headers = message.properties.headers ?? {};
    const delivery: Delivery = {
      job: JSON.parse(message.content.toString('utf8')) as Job,
      deliveryCount: 1 + Number(headers['x-delivery-count'] ?? 0) + Number(headers[DELIVERIES_HEADER] ?? 0),
      ack: async () => {
        // On a channel that has died the broker redelivers the job; the store then shows it done.
        if (!settle()) return;
        try {
          channel.ack(message);
        } catch {
          // It died while the outcome was being stored (amqplib throws once it knows): the same.
        }
      },
      retry: async (delayMs = 0) => {
        if (!settle()) return;
        if (delayMs <= 0) {
          channel.nack(message, false, true);
          return;
        }
        await this.owner.publishDelayed(message.content, delayMs, delivery.deliveryCount);
        channel.ack(message);
      },
      deadLetter: async () => {
        // Rejected without requeue: the quorum queue moves it to `<name>.dead`.
        if (settle()) channel.nack(message, false, false);
      },
      lost: lost.signal,
    };
    const run = this.handler(delivery)
      .catch(async () => {
        if (!settled) await delivery.retry(HANDLER_FAILURE_RETRY_MS);
      })
      .catch((error: Error) => this.owner.report(`could not hand back a failed job: ${error.message}`))
      .finally(() => this.inFlight.delete(run));
    this.inFlight.add(run);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.owner.forget(this);
    const { channel, tag } = this;
    if (channel && tag) await channel.cancel(tag).catch(() => undefined);
    await Promise.all(this.inFlight);
    // Closing the channel hands back whatever was delivered and not settled.
    await channel?.close().catch(() => undefined);
    this.channel = undefined;
  }
}

export class AmqpJobQueue implements JobQueue {
  private publisher: ConfirmChannel | undefined;
  private readonly consumers = new Set<AmqpConsumer>();
  private readonly delayQueues = new Set<number>();
  private closed = false;

  /** Set once connected; the setup hook, which runs before, reaches the queue through `this`. */
  private connection!: RecoveringChannelModel;

  private constructor(
    private readonly url: string,
    private readonly options: AmqpOptions,
  ) {}

  /** Connects (failing at once when the broker cannot be reached) and declares the queues. */
  static async connect(transportUrl: string, options: AmqpOptions): Promise<AmqpJobQueue> {
    const queue = new AmqpJobQueue(amqpUrl(transportUrl), options);
    queue.connection = await connectBroker(transportUrl, {
      connectionName: options.connectionName ?? `pratai ${options.queue}`,
      setup: (model) => queue.onConnect(model),
      onDisconnect: (error) => {
        queue.publisher = undefined;
        queue.report(`lost the message broker at ${brokerOf(queue.url)}: ${error.message}; reconnecting`);
      },
      report: (message) => queue.report(message),
    });
    return queue;
  }

  get queueName(): string {
    return this.options.queue;
  }

  /** Runs on every (re)connection: declares the topology and re-attaches consumers. */
  private async onConnect(model: { createConfirmChannel(): Promise<ConfirmChannel>; createChannel(): Promise<Channel> }): Promise<void> {
    const channel = await model.createConfirmChannel();
    const name = this.options.queue;
    await channel.assertQueue(`${name}.dead`, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await channel.assertQueue(name, {
      durable: true,
      arguments: { 'x-queue-type': 'quorum', 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': `${name}.dead` },
    });
    for (const delayMs of this.delayQueues) await this.assertDelayQueue(channel, delayMs);
    channel.on('close', () => {
      if (this.publisher === channel) this.publisher = undefined;
    });
    this.publisher = channel;
    for (const consumer of this.consumers) await consumer.attach(model);
  }

  private async assertDelayQueue(channel: Channel, delayMs: number): Promise<void> {
    await channel.assertQueue(`${this.options.queue}.delay.${delayMs}`, {
      durable: true,
      arguments: {
        'x-message-ttl': delayMs,
        'x-dead-letter-exchange': '',
        'x-dead-letter-routing-key': this.options.queue,
        // A delay queue nobody uses any more goes away by itself.
        'x-expires': delayMs + 10 * 60_000,
      },
    });
  }

  report(message: string): void {
    this.options.onEvent?.(message);
  }

  forget(consumer: AmqpConsumer): void {
    this.consumers.delete(consumer);
  }

  private connected(): ConfirmChannel {
    if (this.closed) throw new PrataiError('ServiceUnavailable', 'The job queue is closed');
    if (!this.publisher) throw new PrataiError('ServiceUnavailable', `The message broker at ${brokerOf(this.url)} cannot be reached (reconnecting)`);
    return this.publisher;
  }

  private send(queue: string, content: Buffer, headers: Record<string, unknown> = {}): Promise<void> {
    const channel = this.connected();
    const timeoutMs = this.options.publishTimeoutMs ?? DEFAULT_PUBLISH_TIMEOUT_MS;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new PrataiError('ServiceUnavailable', `The message broker at ${brokerOf(this.url)} did not confirm a job within ${timeoutMs} ms`)), timeoutMs);
      try {
        channel.sendToQueue(queue, content, { persistent: true, contentType: 'application/json', headers }, (error) => {
          clearTimeout(timer);
          if (error) reject(new PrataiError('ServiceUnavailable', `The message broker at ${brokerOf(this.url)} did not take the job: ${error instanceof Error ? error.message : 'nack'}`, { cause: error }));
          else resolve();
        });
      } catch (error) {
        clearTimeout(timer);
        reject(new PrataiError('ServiceUnavailable', `The message broker at ${brokerOf(this.url)} cannot be used: ${(error as Error).message}`, { cause: error }));
      }
    });
  }

  publish(job: Job): Promise<void> {
    return this.send(this.options.queue, Buffer.from(JSON.stringify(job)));
  }

  async publishDelayed(content: Buffer, delayMs: number, deliveries: number): Promise<void> {
    if (!this.delayQueues.has(delayMs)) {
      await this.assertDelayQueue(this.connected(), delayMs);
      this.delayQueues.add(delayMs);
    }
    await this.send(`${this.options.queue}.delay.${delayMs}`, content, { [DELIVERIES_HEADER]: deliveries });
  }

  consume(handler: JobHandler, options: { prefetch: number }): Consumer {
    if (!Number.isInteger(options.prefetch) || options.prefetch < 1) throw new TypeError(`Expected prefetch to be a positive integer, got ${options.prefetch}`);
    const consumer = new AmqpConsumer(this, handler, options.prefetch);
    this.consumers.add(consumer);
    const channelSource = this.publisher && this.connectionModel();
    if (channelSource) void consumer.attach(channelSource).catch((error: Error) => this.report(`could not start consuming: ${error.message}`));
    return consumer;
  }

  private connectionModel(): { createChannel(): Promise<Channel> } {
    return { createChannel: () => this.connection.createChannel() };
  }

  async ping(): Promise<void> {
    try {
      await this.connected().checkQueue(this.options.queue);
    } catch (error) {
      if (error instanceof PrataiError) throw error;
      throw new PrataiError('ServiceUnavailable', `The message broker at ${brokerOf(this.url)} cannot be used: ${(error as Error).message}`, { cause: error });
    }
  }

  /**
   * Jobs waiting in the broker, plus those this process holds unacked (RabbitMQ's count leaves
   * delivered jobs out, and another process's unacked jobs are not visible from here).
   */
  async depth(): Promise<number> {
    const { messageCount } = await this.connected().checkQueue(this.options.queue);
    let unsettled = 0;
    for (const consumer of this.consumers) unsettled += consumer.unsettled;
    return messageCount + unsettled;
  }

  /** Removes the queues, with the delay queues of `delaysMs` too (tests); the queue must be idle. */
  async destroy(delaysMs: readonly number[] = []): Promise<void> {
    const channel = this.connected();
    for (const delayMs of new Set([...this.delayQueues, ...delaysMs])) await channel.deleteQueue(`${this.options.queue}.delay.${delayMs}`);
    await channel.deleteQueue(this.options.queue);
    await channel.deleteQueue(`${this.options.queue}.dead`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.consumers].map((consumer) => consumer.stop()));
    this.closed = true;
    this.publisher = undefined;
    await this.connection.close().catch(() => undefined);
  }
}
