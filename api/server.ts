/**
 * Serves the REST API and the webhooks on their ports, and stops them gracefully. Each port's
 * Express app serves every route; the calls clients make most, on their plain paths, are served
 * by lean routes in front of it (api/lean-router.ts).
 */
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApiApp, createWebhookApp } from './app.js';
import { coordinationLeanRoutes } from './coordination.js';
import type { ApiDeps } from './deps.js';
import { OpenStreams } from './event-stream.js';
import { leanListener } from './lean-router.js';
import { webhookCalls, webhookLeanRoutes, webhookRouter } from './webhook.js';

export interface ApiServer {
  readonly apiPort: number;
  readonly webhookPort: number;
  /** Stops accepting connections and waits for the requests under way. */
  close(): Promise<void>;
}

async function listen(listener: RequestListener, host: string, port: number): Promise<Server> {
  const server = createServer(listener).listen(port, host);
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
  // One per process: both ports' webhook routes share it, and the public functions' rate limit with it.
  const serveWebhook = webhookCalls(full);
  const webhookRoutes = webhookRouter(serveWebhook);
  const webhookLean = webhookLeanRoutes(serveWebhook);
  const webhooks = await listen(leanListener(webhookLean, createWebhookApp(full, webhookRoutes), deps.log), host, webhookPortSetting);
  webhookPort = (webhooks.address() as AddressInfo).port;
  const apiListener = leanListener([...coordinationLeanRoutes(full), ...webhookLean], createApiApp(full, webhookRoutes), deps.log);
  const api = await listen(apiListener, host, port).catch(async (error: unknown) => {
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
