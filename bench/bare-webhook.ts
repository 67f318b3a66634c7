/**
 * The baseline of the webhook figures: a bare Express handler answering 202 with a request id,
 * nothing stored, nothing queued. Started by the bench as a process of its own, like the platform;
 * it prints its port and serves until it is killed.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';

const app = express();
app.post('/function/:function_id', (_req, res) => {
  res.status(202).json({ request_id: randomUUID().replaceAll('-', '') });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') process.stdout.write(`listening on ${address.port}\n`);
});
