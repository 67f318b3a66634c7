/**
 * A pratai-runner's own `GET /metrics` on `[runner] metrics_port`: a runner serves no API, so a
 * bare HTTP server answers Prometheus there (everything else is a 404).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../common/log.js';
import type { Metrics } from '../common/metrics.js';

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function serveMetrics(metrics: Metrics, host: string, port: number, log: Logger): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://runner').pathname;
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Only GET /metrics is served here\n');
      return;
    }
    metrics.exposition().then(
      ({ contentType, body }) => res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' }).end(body),
      (error: unknown) => {
        log.error(`metrics could not be collected: ${(error as Error).message}`);
        res.writeHead(500, { 'Content-Type': 'text/plain' }).end('Metrics could not be collected\n');
      },
    );
  });
  server.listen(port, host);
  await once(server, 'listening');
  server.keepAliveTimeout = 5_000;
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
