/** Ids (common/ids.ts): OpenStack's 32 hex digits, version 7 UUIDs ordered by the time they were made. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { isId, newId } from '../common/ids.js';

test('a new id is 32 lowercase hex digits of a version 7 UUID with its time first and 74 random bits', async () => {
  const before = Date.now();
  const ids = Array.from({ length: 1_000 }, newId);
  for (const id of ids) {
    assert.ok(isId(id), id);
    assert.equal(id[12], '7', `version nibble of ${id}`);
    assert.match(id[16] as string, /[89ab]/, `variant of ${id}`);
    const at = Number.parseInt(id.slice(0, 12), 16);
    assert.ok(at >= before && at <= Date.now(), `time of ${id}`);
  }
  assert.equal(new Set(ids).size, ids.length, 'no two alike');

  // Made in a later millisecond, it sorts after: what keeps new rows in the newest index pages.
  await sleep(2);
  const later = newId();
  assert.ok(ids.every((id) => id < later));
});
