// Preloaded into the pratai-server the bench starts (`node --import`): tells the bench, over the
// IPC channel, which requests had their outcome stored, the moment SqlStore.finishRequest commits
// it. Ids are sent in one message per turn of the event loop, so the probe costs the server little.
// It wraps the compiled store's prototype: the server imports the same module, so it gets the wrapper.
import { SqlStore } from '../dist/common/sql-store.js';

const finishRequest = SqlStore.prototype.finishRequest;
let batch = [];

SqlStore.prototype.finishRequest = async function finishRequestObserved(requestId, outcome) {
  const stored = await finishRequest.call(this, requestId, outcome);
  if (stored) {
    if (batch.length === 0) setImmediate(flush);
    batch.push(requestId);
  }
  return stored;
};

function flush() {
  process.send?.({ finished: batch });
  batch = [];
}
