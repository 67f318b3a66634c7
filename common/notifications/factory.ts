/**
 * Opens the notifier the settings call for: over RabbitMQ when `[DEFAULT] transport_url` is set
 * (processes apart share it), else in this process (the all-in-one platform).
 */
import type { Settings } from '../config.js';
import type { Logger } from '../log.js';
import { AmqpNotifier } from './amqp-notifier.js';
import { LocalNotifier } from './local-notifier.js';
import type { Notifier } from './notifier.js';

export async function openNotifier(settings: Settings, options: { listen: boolean; log?: Logger }): Promise<Notifier> {
  const { transport_url: transportUrl, control_exchange: exchange } = settings.DEFAULT;
  if (transportUrl === '') return new LocalNotifier();
  return AmqpNotifier.connect(transportUrl, {
    exchange: `${exchange}.notifications`,
    listen: options.listen,
    onEvent: (message) => options.log?.warning(message),
  });
}
