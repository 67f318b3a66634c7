/** Opens the job queue the settings name: the embedded one under state_path. */
import { join } from 'node:path';
import type { Settings } from './config.js';
import { EmbeddedJobQueue } from './embedded-job-queue.js';
import type { JobQueue } from './queue.js';

export async function openQueue(settings: Settings): Promise<JobQueue> {
  return EmbeddedJobQueue.open(join(settings.DEFAULT.state_path, 'queue.db'));
}
