/**
 * /v1/runtimes: the runtimes functions can be created on, and whether a live runner has each;
 * administrators add and remove them.
 */
import express, { Router } from 'express';
import type { RuntimeRecord } from '../common/domain.js';
import { PrataiError } from '../common/errors.js';
import type { ApiDeps } from './deps.js';
import { runtimeStatuses } from './discovery.js';
import { methodNotAllowed } from './http.js';
import { onlyKnown, text } from './params.js';
import { authorize } from './policy.js';

const NAME = { pattern: /^[a-z][a-z0-9_.-]*$/, hint: 'lowercase letters, digits, `_`, `.` and `-`, starting with a letter', max: 64 };
/** A Docker image reference: repository[:tag][@digest], as `docker build -t` takes it. */
const IMAGE = { pattern: /^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$/, hint: 'a Docker image reference such as registry.example.org/pratai/runtime-python3:3.12' };

export function runtimesRouter(deps: ApiDeps): Router {
  const { store } = deps;
  const router = Router();
  const view = async (runtimes: RuntimeRecord[]) => {
    const available = await runtimeStatuses(deps);
    return runtimes.map((runtime) => ({ ...runtime, status: available.get(runtime.image) ? 'available' : 'unavailable' }));
  };
  const find = async (name: string): Promise<RuntimeRecord> => {
    const runtime = await store.getRuntime(name);
    if (runtime === undefined) throw new PrataiError('NotFound', `No runtime named \`${name}\``);
    return runtime;
  };

  router
    .route('/')
    .get(async (_req, res) => {
      authorize(deps.policy, res, 'runtime:list');
      res.json({ runtimes: await view(await store.listRuntimes()) });
    })
    .post(express.json({ limit: '16kb' }), async (req, res) => {
      authorize(deps.policy, res, 'runtime:create');
      const body: unknown = req.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new PrataiError('InvalidJson', 'Expected a JSON object {"name", "image", "description"}');
      const fields = body as Record<string, unknown>;
      onlyKnown('field', fields, ['name', 'image', 'description']);
      const runtime: RuntimeRecord = {
        name: text('name', fields.name, NAME),
        image: text('image', fields.image, IMAGE),
        description: fields.description === undefined ? '' : text('description', fields.description, { max: 1024 }),
      };
      await store.createRuntime(runtime);
      const [shown] = await view([runtime]);
      res.status(201).json({ runtime: shown });
    })
    .all(methodNotAllowed(['GET', 'POST']));

  router
    .route('/:name')
    .get(async (req, res) => {
      authorize(deps.policy, res, 'runtime:list');
      const [shown] = await view([await find(req.params.name)]);
      res.json({ runtime: shown });
    })
    .delete(async (req, res) => {
      authorize(deps.policy, res, 'runtime:delete');
      await find(req.params.name);
      if (!(await store.deleteRuntime(req.params.name))) throw new PrataiError('NotFound', `No runtime named \`${req.params.name}\``);
      res.status(204).end();
    })
    .all(methodNotAllowed(['GET', 'DELETE']));
  return router;
}
