// Preloaded into the pratai-server the bench starts (`node --import`): tells the bench, over the
// IPC channel, which requests had their outcome stored and when, the moment SqlStore.finishRequest
// commits it. It stamps the time itself (epoch milliseconds, performance.timeOrigin + now(), which
// the bench's process reads alike), so that the message's own way never adds to a latency; the
// stamps go in one message per turn of the event loop, so the probe costs the server little. It
// wraps the compiled store's prototype: the server imports the same module, so it gets the wrapper.
import { SqlStore } from '../dist/common/store/sql-store.js';

const finishRequest = SqlStore.prototype.finishRequest;
/** Request ids and when their outcome was stored, alternating. */
let batch = [];

SqlStore.prototype.finishRequest = async function finishRequestObserved(requestId, outcome) {
  const stored = await finishRequest.call(this, requestId, outcome);
  if (stored) {
    if (batch.length === 0) setImmediate(flush);
    batch.push(requestId, performance.timeOrigin + performance.now());
  }
  return stored;
};

function flush() {
  process.send?.({ finished: batch });
  batch = [];
}
