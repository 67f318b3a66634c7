/**
 * What answers without authentication: the version-discovery document at `/` (the shape
 * keystoneauth1's discovery parses) and `/healthcheck` (oslo.middleware's: 200 `OK` or 503 with
 * the reasons; JSON when asked for).
 */
import { Router, type Request } from 'express';
import type { ApiDeps } from './deps.js';
import { runnerDeadAfterSeconds } from '../common/config.js';

const V1 = { id: 'v1.0', status: 'CURRENT', version: '', min_version: '', updated: '2026-11-24T00:00:00Z' };

export function discoveryRouter(_deps: ApiDeps): Router {
  const router = Router();
  const base = (req: Request): string => `${req.protocol}://${req.headers.host ?? 'localhost'}`;
  const version = (req: Request) => ({
    ...V1,
    links: [{ rel: 'self', href: `${base(req)}/v1/` }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.function-engine-v1+json' }],
  });
  router.get('/', (req, res) => {
    res.json({ versions: [version(req)] });
  });
  router.get(['/v1', '/v1/'], (req, res) => {
    res.json({ version: version(req) });
  });
  return router;
}

export function healthcheckRouter(deps: ApiDeps): Router {
  const router = Router();
  router.get('/healthcheck', async (req, res) => {
    const reasons = await healthProblems(deps);
    const healthy = reasons.length === 0;
    res.status(healthy ? 200 : 503).setHeader('Cache-Control', 'no-store');
    if (req.accepts(['text', 'json']) === 'json') res.json({ healthy, reasons });
    else res.type('text/plain').send(healthy ? 'OK' : reasons.join('\n'));
  });
  return router;
}

/** Why the platform cannot serve requests now: empty when it can. */
async function healthProblems(deps: ApiDeps): Promise<string[]> {
  const reasons: string[] = [];
  await deps.store.ping().catch((error: Error) => reasons.push(error.message));
  await deps.queue.ping().catch((error: Error) => reasons.push(error.message));
  await deps.auth.ping?.().catch((error: Error) => reasons.push(error.message));
  // The API never talks to Docker: runners report on it in their heartbeats.
  const heartbeats = await deps.store.listHeartbeats().catch(() => []);
  const freshAfter = Date.now() - runnerDeadAfterSeconds(deps.settings) * 1000;
  const fresh = heartbeats.filter((beat) => Date.parse(beat.at) >= freshAfter);
  if (fresh.length === 0) reasons.push('No runner has reported in the last heartbeat interval');
  else if (!fresh.some((beat) => beat.dockerOk)) reasons.push(`Docker is not usable on any runner (${fresh.map((beat) => beat.name).join(', ')})`);
  return reasons;
}

/** Whether a runtime's image is on some live runner: a runtime's `status`. */
export async function runtimeStatuses(deps: ApiDeps): Promise<Map<string, boolean>> {
  const freshAfter = Date.now() - runnerDeadAfterSeconds(deps.settings) * 1000;
  const available = new Map<string, boolean>();
  for (const beat of await deps.store.listHeartbeats()) {
    if (!beat.dockerOk || Date.parse(beat.at) < freshAfter) continue;
    for (const image of beat.images) available.set(image, true);
  }
  return available;
}
