/**
 * Prometheus metrics, scraped by a real Prometheus (Debian's package) while requests run: the
 * request counters match the stored records, histograms count what ended, the runner's container
 * gauges match its containers in Docker, and `promtool check metrics` finds nothing to fix.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the tests read HTTP JSON bodies, whose shape is what they assert */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../common/log.js';
import { Metrics } from '../common/metrics.js';
import { serveMetrics, type MetricsServer } from '../server/metrics-server.js';
import {
  call,
  deployFunction,
  invoke,
  leftoverContainers,
  removeFunctionImages,
  startTestPlatform,
  waitFor,
  waitForRequest,
  type TestPlatform,
} from './helpers/platform.js';
import { startPrometheus, type TestPrometheus } from './helpers/prometheus.js';

const FAILS_ON_ASK = ['def main(payload=None):', '    if payload == "fail":', "        raise ValueError('asked to fail')", '    return {"got": payload}', ''].join('\n');

describe('metrics', () => {
  let platform: TestPlatform;
  let prometheus: TestPrometheus;
  let runnerMetrics: MetricsServer;
  let fn: any;
  const created: string[] = [];

  before(async () => {
    // Warm containers, so that the container gauge has something to count after the requests.
    platform = await startTestPlatform({ runner: { pool_size: '2', pool_pause_after: '0' } });
    // A runner's own /metrics (what pratai-runner serves on [runner] metrics_port) over a registry of its own.
    runnerMetrics = await serveMetrics(new Metrics(), '127.0.0.1', 0, silentLogger);
    prometheus = await startPrometheus({ pratai: new URL(platform.apiUrl).host, runner: `127.0.0.1:${runnerMetrics.port}` });
    fn = await deployFunction(platform, { 'new_module.py': FAILS_ON_ASK, 'requirements.txt': '' }, { name: 'metered' });
    created.push(fn.function_id);
  });

  after(async () => {
    await prometheus?.close();
    await runnerMetrics?.close();
    await platform?.close();
    removeFunctionImages(created);
  });

  test('Prometheus finds the request counters, histogram counts and container gauges matching the records', async () => {
    const id = fn.function_id as string;
    const payloads = ['a', 'fail', 'b', 'c', 'fail', 'd'];
    for (const payload of payloads) await waitForRequest(platform, await invoke(platform, id, payload));
    // One sync call, through the webhook's wait.
    const sync = await call(`${platform.webhookUrl}/function/${id}?wait=true`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payload": "e"}' });
    assert.equal(sync.status, 200);

    const { body } = await call(`${platform.apiUrl}/v1/requests?function_id=${id}`);
    const stored: Record<string, number> = {};
    for (const request of body.requests) stored[request.status] = (stored[request.status] ?? 0) + 1;
    assert.deepEqual(stored, { succeeded: 5, failed: 2 });

    const byOutcome = async (expr: string): Promise<Record<string, number>> =>
      Object.fromEntries((await prometheus.query(expr)).map(({ metric, value }) => [metric.outcome ?? '', value]));
    // Prometheus scrapes every second: it has seen everything once a scrape came after the last request.
    const finished = await waitFor('Prometheus to see every outcome', async () => {
      const seen = await byOutcome(`sum by (outcome) (pratai_requests_finished_total{function="${id}"})`);
      return seen.succeeded === stored.succeeded && seen.failed === stored.failed ? seen : undefined;
    }, 30_000);
    assert.deepEqual(finished, stored);

    const accepted = await prometheus.query(`pratai_requests_accepted_total{function="${id}"}`);
    assert.deepEqual(accepted.map((series) => series.value), [7]);
    assert.deepEqual(await byOutcome(`sum by (outcome) (pratai_request_duration_seconds_count{function="${id}"})`), stored);
    assert.deepEqual(await byOutcome(`sum by (outcome) (pratai_request_run_duration_seconds_count{function="${id}"})`), stored);
    assert.equal((await prometheus.query('sum(pratai_request_queue_wait_seconds_count)'))[0]?.value, 7);
    const webhook = await prometheus.query('sum by (mode, code) (pratai_webhook_response_seconds_count)');
    assert.deepEqual(
      Object.fromEntries(webhook.map(({ metric, value }) => [`${metric.mode} ${metric.code}`, value])),
      { 'async 202': 6, 'sync 200': 1 },
    );
    assert.equal((await prometheus.query('sum(pratai_image_builds_total{result="ok"})'))[0]?.value, 1);
    assert.equal((await prometheus.query('sum(pratai_container_starts_total)'))[0]?.value, 1, 'one warm container served every request');

    const containers = Object.fromEntries(
      (await prometheus.query(`pratai_containers{runner="${platform.runnerName}"}`)).map(({ metric, value }) => [metric.state ?? '', value]),
    );
    assert.deepEqual(containers, { warm: leftoverContainers(platform.runnerName).length, busy: 0, prewarmed: 0 });
    assert.equal(containers.warm, 1);
    assert.equal((await prometheus.query(`pratai_requests_running{runner="${platform.runnerName}"}`))[0]?.value, 0);

    // Process metrics, and the runner's own endpoint scraped as a target of its own.
    assert.ok(((await prometheus.query('process_resident_memory_bytes{job="pratai"}'))[0]?.value ?? 0) > 0);
    await waitFor('Prometheus to scrape the runner', async () => ((await prometheus.query('up{job="runner"}'))[0]?.value === 1 ? true : undefined), 30_000);
  });

  test('promtool check metrics passes on what the API and a runner serve', async () => {
    for (const url of [`${platform.apiUrl}/metrics`, `http://127.0.0.1:${runnerMetrics.port}/metrics`]) {
      const response = await fetch(url);
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await response.text();
      assert.match(text, /^# HELP pratai_requests_finished_total /m);
      const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool check metrics on ${url}:\n${check.stdout}${check.stderr}`);
      assert.equal(`${check.stdout}${check.stderr}`.trim(), '', 'promtool found something to fix');
    }
    const other = await fetch(`http://127.0.0.1:${runnerMetrics.port}/`);
    assert.equal(other.status, 404);
  });
});
