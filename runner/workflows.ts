/**
 * What a runner does for workflows: records each action instance's end right after storing its
 * outcome (so that a successor starts without waiting for anyone), sweeps for ends a process died
 * before recording, and serves the `faasr` calls of running actions (workflow-files.ts).
 */
import type { Settings } from '../common/config.js';
import type { RequestRecord } from '../common/domain.js';
import type { Logger } from '../common/log.js';
import type { Notifier } from '../common/notifications/notifier.js';
import type { JobQueue } from '../common/queue/queue.js';
import type { Keyring } from '../common/secrets/keyring.js';
import type { Outcome, Store } from '../common/store/store.js';
import { dataStoreOptions } from '../common/workflows/data-store.js';
import { isActionPayload, WorkflowEngine } from '../common/workflows/engine.js';
import type { FunctionServices } from './function-services.js';
import { Periodic } from './periodic.js';
import { WorkflowFiles } from './workflow-files.js';

/** Most lost ends recorded in one sweep. */
const SWEEP_BATCH = 200;

export interface RunnerWorkflows {
  services: FunctionServices;
  afterOutcome: (request: RequestRecord, outcome: Outcome) => Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/** Undefined where the store has no workflows (MongoDB). */
export function runnerWorkflows(settings: Settings, deps: { store: Store; queue: JobQueue; notifier: Notifier; keyring: Keyring; log: Logger }): RunnerWorkflows | undefined {
  const workflows = deps.store.workflows?.();
  if (workflows === undefined) return undefined;
  const log = deps.log.child('workflows');
  const engine = new WorkflowEngine({ ...deps, workflows, dataStores: dataStoreOptions(settings), log });
  const files = new WorkflowFiles({ store: deps.store, workflows, engine, keyring: deps.keyring, log });
  const sweep = new Periodic(async () => {
    try {
      const recorded = await engine.recordLostEnds(SWEEP_BATCH);
      if (recorded > 0) log.warning(`recorded the end of ${recorded} workflow action(s) whose end was not recorded`);
    } catch (error) {
      log.error(`workflow sweep failed: ${(error as Error).message}`);
    }
  }, settings.runner.sweep_interval * 1000);
  return {
    services: new Map([['faasr', files]]),
    afterOutcome: async (request, outcome) => {
      if (!isActionPayload(request.payload)) return;
      await engine.recordEnd({ request_id: request.request_id, status: outcome.status, response: outcome.response, logs: outcome.logs });
    },
    start: () => sweep.start({ immediately: true }),
    stop: async () => {
      await sweep.stop();
      files.close();
    },
  };
}
