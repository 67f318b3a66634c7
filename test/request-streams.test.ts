/**
 * Changes pushed to whoever waits, over the notification path, against the real platform and
 * Docker: the sync webhook answers when the outcome is stored, a follow of a request's logs shows
 * each line as the function writes it, and a watch of the requests sees each change.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  assertNoLeftoverContainers,
  call,
  deployFunction,
  ECHO_MODULE,
  invoke,
  leftoverContainers,
  startTestPlatform,
  waitFor,
  waitForRequest,
  type TestPlatform,
} from './helpers/platform.js';

let platform: TestPlatform;
before(async () => {
  platform = await startTestPlatform({ api: { wait_timeout: '120' } });
});
after(async () => {
  await platform.close();
});
afterEach(() => assertNoLeftoverContainers(platform.runnerName));

/** A streamed answer read as it arrives: its text so far, and a wait for something in it. */
class Streamed {
  text = '';
  ended = false;
  private readonly listeners = new Set<() => void>();
  readonly done: Promise<void>;

  constructor(readonly response: Response) {
    const decoder = new TextDecoder();
    this.done = (async () => {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
        this.text += decoder.decode(chunk, { stream: true });
        for (const listener of this.listeners) listener();
      }
      this.ended = true;
      for (const listener of this.listeners) listener();
    })();
  }

  static async open(url: string, accept: string): Promise<Streamed> {
    const response = await fetch(url, { headers: { accept } });
    assert.equal(response.status, 200, await (response.status === 200 ? Promise.resolve('') : response.text()));
    return new Streamed(response);
  }

  /** Resolves once `condition` holds of the text (or rejects when the stream ended without it). */
  until(what: string, condition: (text: string) => boolean): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (condition(this.text)) {
          this.listeners.delete(check);
          resolve();
        } else if (this.ended) {
          this.listeners.delete(check);
          reject(new Error(`the stream ended without ${what}: ${this.text}`));
        }
      };
      this.listeners.add(check);
      check();
    });
  }

  /** Server-Sent Events so far: name and parsed data. */
  events(): { event: string; data: any }[] {
    return this.text
      .split('\n\n')
      .filter((block) => /^event: /m.test(block))
      .map((block) => ({
        event: /^event: (.*)$/m.exec(block)?.[1] ?? '',
        data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? 'null'),
      }));
  }
}

describe('the sync webhook', () => {
  test("answers with main's value once the outcome is stored, for a function that runs longer than a poll would wait", async () => {
    const module = 'import time\n\ndef main(payload=None):\n    time.sleep(0.7)\n    return {"slept": payload}\n';
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'sleepy' });
    const answer = await call(`${platform.webhookUrl}/function/${fn.function_id}?wait=true`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payload: 7 }),
    });
    assert.equal(answer.status, 200);
    assert.deepEqual(answer.body, { slept: 7 });
    const requestId = answer.headers.get('x-pratai-request-id');
    const stored = await waitForRequest(platform, requestId ?? '');
    assert.equal(stored.status, 'succeeded');
  });
});

describe("following a request's logs", () => {
  test('shows a line the function logs before it returns while the request still runs, and ends when the request ends', async () => {
    const module = [
      'import logging, time',
      "logger = logging.getLogger('pratai')",
      '',
      'def main(payload=None):',
      "    logger.info('before the long part')",
      '    time.sleep(300)',
      "    return 'never'",
      '',
    ].join('\n');
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'long', timeout: '600' });
    const requestId = await invoke(platform, fn.function_id, null);
    const follow = await Streamed.open(`${platform.apiUrl}/v1/requests/${requestId}/logs?follow=true`, 'text/plain');
    await follow.until('the first line', (text) => text.includes('before the long part'));
    assert.match(follow.text, /^\S+ INFO \[pratai\] before the long part\n$/);
    const { body } = await call(`${platform.apiUrl}/v1/requests/${requestId}`);
    assert.equal(body.request.status, 'running', 'the line came while main still ran');
    assert.equal(follow.ended, false);
    // Its end ends the stream: a cancel is the end this test can choose.
    assert.equal((await call(`${platform.apiUrl}/v1/requests/${requestId}/cancel`, { method: 'POST' })).status, 200);
    await follow.done;
    assert.equal((await waitForRequest(platform, requestId)).status, 'cancelled');
    // The runner notices the cancel on its next look and kills the container.
    await waitFor('the cancelled container to go', async () => (leftoverContainers(platform.runnerName).length === 0 ? true : undefined), 30_000);
  });

  test('as events: each record once, numbered, then the end with the final status', async () => {
    const module = [
      'import logging, time',
      "logger = logging.getLogger('pratai')",
      '',
      'def main(payload=None):',
      '    for n in range(3):',
      "        logger.info('line %d', n)",
      '        time.sleep(0.2)',
      "    print('printed')",
      '    return n',
      '',
    ].join('\n');
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'lines' });
    const requestId = await invoke(platform, fn.function_id, null);
    const follow = await Streamed.open(`${platform.apiUrl}/v1/requests/${requestId}/logs?follow=true`, 'text/event-stream');
    await follow.done;
    const events = follow.events();
    const logs = events.filter((e) => e.event === 'log');
    assert.deepEqual(
      logs.map((e) => e.data.message),
      ['line 0', 'line 1', 'line 2', 'printed'],
    );
    assert.deepEqual(
      logs.map((e) => e.data.index),
      [0, 1, 2, 3],
    );
    assert.deepEqual(events.at(-1), { event: 'end', data: events.at(-1)?.data });
    assert.equal(events.at(-1)?.data.status, 'succeeded');
  });

  test('a finished request: its stored logs, then the end at once', async () => {
    const module = "import logging\n\ndef main(payload=None):\n    logging.getLogger('pratai').warning('done %s', payload)\n    return payload\n";
    const fn = await deployFunction(platform, { 'new_module.py': module }, { name: 'done' });
    const requestId = await invoke(platform, fn.function_id, 'x');
    await waitForRequest(platform, requestId);
    const follow = await Streamed.open(`${platform.apiUrl}/v1/requests/${requestId}/logs?follow=true`, 'text/plain');
    await follow.done;
    assert.match(follow.text, /^\S+ WARNING \[pratai\] done x\n$/);
  });

  test('an unknown parameter or request is refused as a listing would be', async () => {
    const unknown = await call(`${platform.apiUrl}/v1/requests/${'0'.repeat(32)}/logs?follow=true`);
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'RequestNotFound');
    const bad = await call(`${platform.apiUrl}/v1/requests/${'0'.repeat(32)}/logs?follow=maybe`);
    assert.equal(bad.status, 400);
  });
});

describe('watching requests', () => {
  test("a watch of a function's requests sees a new request queued, running and succeeded, in that order", async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'watched' });
    const watch = await Streamed.open(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}`, 'text/event-stream');
    await watch.until('ready', (text) => text.includes('event: ready'));
    const requestId = await invoke(platform, fn.function_id, { n: 1 });
    await watch.until('the outcome', (text) => text.includes('"status":"succeeded"'));
    watch.response.body?.cancel().catch(() => undefined);
    const statuses = watch
      .events()
      .filter((e) => e.event === 'request' && e.data.request_id === requestId)
      .map((e) => e.data.status);
    assert.deepEqual(statuses, ['queued', 'running', 'succeeded']);
    const summary = watch.events().find((e) => e.data?.status === 'succeeded')?.data;
    assert.equal(summary.function_id, fn.function_id);
    assert.equal('payload' in summary || 'logs' in summary, false, 'a watch shows no payload nor logs');
  });

  test('a watch first sends the newest requests that match, oldest of them first', async () => {
    const fn = await deployFunction(platform, { 'new_module.py': ECHO_MODULE }, { name: 'history' });
    const first = await invoke(platform, fn.function_id, 1);
    const second = await invoke(platform, fn.function_id, 2);
    await waitForRequest(platform, first);
    await waitForRequest(platform, second);
    const watch = await Streamed.open(`${platform.apiUrl}/v1/requests?function_id=${fn.function_id}&limit=5`, 'text/event-stream');
    await watch.until('ready', (text) => text.includes('event: ready'));
    watch.response.body?.cancel().catch(() => undefined);
    assert.deepEqual(
      watch.events().filter((e) => e.event === 'request').map((e) => e.data.request_id),
      [first, second],
    );
  });
});
