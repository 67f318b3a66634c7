/**
 * Opens the job queue the settings name: RabbitMQ when `[DEFAULT] transport_url` is set, else the
 * embedded queue under state_path.
 */
import { join } from 'node:path';
import { AmqpJobQueue } from './amqp-job-queue.js';
import type { Settings } from '../config.js';
import { EmbeddedJobQueue } from './embedded-job-queue.js';
import type { Logger } from '../log.js';
import type { JobQueue } from './queue.js';

export async function openQueue(settings: Settings, log?: Logger): Promise<JobQueue> {
  const { transport_url: transportUrl, control_exchange: exchange } = settings.DEFAULT;
  if (transportUrl === '') return EmbeddedJobQueue.open(join(settings.DEFAULT.state_path, 'queue.db'));
  return AmqpJobQueue.connect(transportUrl, { queue: `${exchange}.jobs`, onEvent: (message) => log?.warning(message) });
}
