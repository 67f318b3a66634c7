/** The local RabbitMQ as the tests use it: its URL, and faults made from the broker's side. */
import { execFileSync } from 'node:child_process';

export const RABBIT_URL = process.env.PRATAI_TEST_TRANSPORT_URL ?? 'rabbit://guest:guest@127.0.0.1:5672/';

/** Closes, from the broker's side, the connections of one name: a broker restart as one client sees it. */
export function closeConnections(connectionName: string): number {
  const listing = execFileSync('rabbitmqctl', ['-q', 'list_connections', 'pid', 'client_properties'], { encoding: 'utf8' });
  const pids = listing
    .split('\n')
    .filter((line) => line.includes(`"${connectionName}"`))
    .map((line) => line.split('\t')[0] as string);
  for (const pid of pids) execFileSync('rabbitmqctl', ['-q', 'close_connection', pid, 'pratai test: broker going away']);
  return pids.length;
}
