/**
 * /v1/runners (administrators): the runners as their heartbeats report them, and draining one,
 * which reaches it through the store: its next heartbeat reads the request, and it stops taking
 * jobs, finishes what it holds and reports `draining`, then `drained`. A runner without a
 * heartbeat for `[runner] dead_after` is `down` until its row is pruned (runner/retention.ts).
 */
import { Router } from 'express';
import { runnerDeadAfterSeconds } from '../common/config.js';
import { PrataiError } from '../common/errors.js';
import type { RunnerHeartbeat } from '../common/store/store.js';
import type { ApiDeps } from './deps.js';
import { methodNotAllowed } from './http.js';
import { authorize } from './policy.js';

function runnerView(beat: RunnerHeartbeat, freshAfter: number): Record<string, unknown> {
  const load = beat.load;
  const reported = load?.state ?? 'active';
  const alive = Date.parse(beat.at) >= freshAfter;
  return {
    id: beat.name,
    host: beat.host,
    pid: beat.pid,
    started_at: beat.startedAt,
    heartbeat_at: beat.at,
    alive,
    docker_ok: beat.dockerOk,
    // Dead, whatever it last said, until its row is pruned ([runner] dead_runner_retention); asked
    // to drain but not yet heard by the runner: draining all the same, from the caller's view.
    state: !alive ? 'down' : beat.drainRequested && reported === 'active' ? 'draining' : reported,
    drain_requested: beat.drainRequested ?? false,
    concurrency: load?.concurrency ?? null,
    requests_running: load?.running ?? null,
    warm_containers: load?.warm ?? null,
    busy_containers: load?.busy ?? null,
    prewarmed_containers: load?.prewarmed ?? null,
    images: beat.images,
  };
}

export function runnersRouter(deps: ApiDeps): Router {
  const { store } = deps;
  const router = Router();
  const freshAfter = (): number => Date.now() - runnerDeadAfterSeconds(deps.settings) * 1000;

  router
    .route('/')
    .get(async (_req, res) => {
      authorize(deps.policy, res, 'runner:list');
      const beats = (await store.listHeartbeats()).sort((a, b) => a.name.localeCompare(b.name));
      const after = freshAfter();
      res.json({ runners: beats.map((beat) => runnerView(beat, after)) });
    })
    .all(methodNotAllowed(['GET']));

  router
    .route('/:runner_id/drain')
    .post(async (req, res) => {
      authorize(deps.policy, res, 'runner:drain');
      const id = req.params.runner_id;
      if (!(await store.requestDrain(id))) throw new PrataiError('RunnerNotFound', `No runner with id \`${id}\` has a heartbeat; \`pratai runner-list\` shows them`);
      const beat = (await store.listHeartbeats()).find((candidate) => candidate.name === id);
      if (beat === undefined) throw new PrataiError('RunnerNotFound', `Runner \`${id}\` stopped meanwhile`);
      res.status(202).json({ runner: runnerView(beat, freshAfter()) });
    })
    .all(methodNotAllowed(['POST']));
  return router;
}
