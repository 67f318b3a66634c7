import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WaitingJobs, type WaitingJob } from '../common/queue/waiting-jobs.js';

test('the embedded queue hands out waiting jobs earliest due first, then in publish order, and none before it is due', () => {
  const waiting = new WaitingJobs();
  // A fixed pseudo-random order of arrival, with ties on the due time.
  const jobs: WaitingJob[] = [];
  let state = 7;
  for (let seq = 1; seq <= 500; seq += 1) {
    state = (state * 48_271) % 2_147_483_647;
    jobs.push({ seq, availableAt: 1_000 + (state % 50) });
  }
  for (const job of [...jobs].reverse()) waiting.add(job);
  assert.equal(waiting.size, 500);
  assert.equal(waiting.nextDueAt(), 1_000);

  assert.equal(waiting.takeDue(999), undefined, 'nothing is due before the earliest time');
  const taken: WaitingJob[] = [];
  for (let job = waiting.takeDue(1_024); job !== undefined; job = waiting.takeDue(1_024)) taken.push(job);
  for (let job = waiting.takeDue(Infinity); job !== undefined; job = waiting.takeDue(Infinity)) taken.push(job);

  const expected = [...jobs].sort((a, b) => a.availableAt - b.availableAt || a.seq - b.seq);
  assert.deepEqual(taken, expected);
  assert.ok(taken.slice(0, taken.findIndex((job) => job.availableAt > 1_024)).every((job) => job.availableAt <= 1_024));
  assert.equal(waiting.size, 0);
  assert.equal(waiting.nextDueAt(), Infinity);
});
