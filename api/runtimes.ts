/** /v1/runtimes: the runtimes functions can be created on, and whether a live runner has each. */
import { Router } from 'express';
import type { ApiDeps } from './deps.js';
import { runtimeStatuses } from './discovery.js';
import { methodNotAllowed } from './http.js';
import { authorize } from './policy.js';

export function runtimesRouter(deps: ApiDeps): Router {
  const router = Router();
  router
    .route('/')
    .get(async (_req, res) => {
      authorize(deps.policy, res, 'runtime:list');
      const [runtimes, available] = await Promise.all([deps.store.listRuntimes(), runtimeStatuses(deps)]);
      res.json({ runtimes: runtimes.map((runtime) => ({ ...runtime, status: available.get(runtime.image) ? 'available' : 'unavailable' })) });
    })
    .all(methodNotAllowed(['GET']));
  return router;
}
