/**
 * The baseline of the sync figures: a bare Express handler that runs the function in one warm
 * container over its channel (the runner's own code) and answers with its response; nothing
 * stored, queued or announced. The same processes take part as in a sync call of the platform
 * (the caller, a Node server, the function's runtime), so that what the platform adds is the
 * difference. Started by the bench with the function's image and id; it prints its port and
 * serves until it is killed, then removes its container.
 */
import express from 'express';
import { warmContainer } from './baselines.js';

const [image, functionId] = process.argv.slice(2);
if (image === undefined || functionId === undefined) throw new Error('usage: bare-sync.ts IMAGE FUNCTION_ID');
const container = await warmContainer(image, functionId, 'bench-bare-sync');
let calls = 0;

const app = express();
app.post('/function/:function_id', express.json({ type: () => true }), async (req, res) => {
  const execution = await container.run({ requestId: `bare-${(calls += 1)}`, payload: (req.body as { payload?: unknown }).payload ?? null, timeoutMs: 30_000 });
  res.status(execution.status === 'succeeded' ? 200 : 502).json(execution.status === 'succeeded' ? execution.response : execution.error);
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stdout.write(`listening on ${address.port}\n`);
});
process.once('SIGTERM', () => {
  server.close();
  void container.remove().finally(() => process.exit(0));
});
