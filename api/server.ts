/** Serves the REST API and the webhooks on their ports, and stops them gracefully. */
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiApp, createWebhookApp } from './app.js';
import type { ApiDeps } from './deps.js';
import { OpenStreams } from './event-stream.js';
import { webhookRouter } from './webhook.js';

export interface ApiServer {
  readonly apiPort: number;
  readonly webhookPort: number;
  /** Stops accepting connections and waits for the requests under way. */
  close(): Promise<void>;
}

async function listen(app: ReturnType<typeof createApiApp>, host: string, port: number): Promise<Server> {
  const server = app.listen(port, host);
  await once(server, 'listening');
  // Keep-alive connections idle between requests must not hold shutdown open.
  server.keepAliveTimeout = 5_000;
  return server;
}

async function closeServer(server: Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  await closed;
}

export async function startApi(deps: Omit<ApiDeps, 'webhookPort' | 'streams'>): Promise<ApiServer> {
  const { host, port, webhook_port: webhookPortSetting } = deps.settings.api;
  let webhookPort = webhookPortSetting;
  const streams = new OpenStreams();
  const full: ApiDeps = { ...deps, streams, webhookPort: () => webhookPort };
  const webhookRoutes = webhookRouter(full);
  const webhooks = await listen(createWebhookApp(full, webhookRoutes), host, webhookPortSetting);
  webhookPort = (webhooks.address() as AddressInfo).port;
  const api = await listen(createApiApp(full, webhookRoutes), host, port).catch(async (error: unknown) => {
    await closeServer(webhooks);
    throw error;
  });
  return {
    apiPort: (api.address() as AddressInfo).port,
    webhookPort,
    close: async () => {
      streams.endAll();
      await Promise.all([closeServer(api), closeServer(webhooks)]);
    },
  };
}
