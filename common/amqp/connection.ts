/**
 * One connection to RabbitMQ as every adapter over it opens one (the job queue, the notifier):
 * from an oslo.messaging transport URL, failing at once when the broker cannot be reached, then
 * recovering by itself with backoff (amqplib's recovery), re-running `setup` on every connection.
 */
import { connect, type ChannelModel, type RecoveringChannelModel } from 'amqplib';
import { PrataiError } from '../errors.js';

/** Turns an oslo.messaging transport URL (`rabbit://user:pass@host:5672/vhost`) into an AMQP URL. */
export function amqpUrl(transportUrl: string): string {
  const match = /^(?:rabbit|amqp):\/\/([^/]*)(\/.*)?$/.exec(transportUrl);
  if (!match) throw new PrataiError('InvalidParameter', `Expected a transport URL such as rabbit://user:pass@host:5672/, got \`${transportUrl.replace(/\/\/[^@/]*@/, '//***@')}\``);
  // oslo.messaging lists several hosts comma-separated; the first is used.
  const host = (match[1] ?? '').split(',')[0] ?? '';
  const vhost = match[2] === undefined || match[2] === '/' ? '' : match[2];
  return `amqp://${host}${vhost}`;
}

/** host:port of an AMQP URL, for messages that must not show the password. */
export const brokerOf = (url: string): string => url.replace(/^amqp:\/\/([^@/]*@)?/, '').replace(/\/.*$/, '');

export interface BrokerConnectionOptions {
  /** Names the connection in the broker's management views (`rabbitmqctl list_connections`). */
  connectionName: string;
  /** Runs on every connection, the first included (declare the topology, attach consumers). */
  setup(model: ChannelModel): Promise<void>;
  /** The connection is lost; recovery has begun. */
  onDisconnect(error: Error): void;
  /** Told what no caller can be (a failed reconnection, a connection error). */
  report(message: string): void;
}

export async function connectBroker(transportUrl: string, options: BrokerConnectionOptions): Promise<RecoveringChannelModel> {
  const url = amqpUrl(transportUrl);
  const unreachable = (error: unknown): PrataiError =>
    new PrataiError('ServiceUnavailable', `The message broker at ${brokerOf(url)} cannot be reached: ${(error as Error).message}`, { cause: error });
  const connection = await connect(url, {
    // Without it, Nagle's algorithm holds each small frame for the broker's delayed ACK: ~40 ms a message.
    noDelay: true,
    clientProperties: { connection_name: options.connectionName },
    recovery: { initialDelay: 200, maxDelay: 5000, initialMaxRetries: 0, waitForConnect: false, setup: (model: ChannelModel) => options.setup(model) },
  }).catch((error: unknown) => {
    throw unreachable(error);
  });
  connection.on('disconnect', (error: Error) => options.onDisconnect(error));
  connection.on('reconnect-failed', (error: Error) => options.report(`gave up reconnecting to the message broker at ${brokerOf(url)}: ${error.message}`));
  connection.on('error', (error: Error) => options.report(`message broker connection error: ${error.message}`));
  try {
    await connection.waitForConnect();
  } catch (error) {
    await connection.close().catch(() => undefined);
    throw unreachable(error);
  }
  return connection;
}
