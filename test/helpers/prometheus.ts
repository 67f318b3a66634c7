/**
 * A real Prometheus (Debian's `prometheus` package) for a test file: its own folder and port,
 * scraping the targets it is given every second, stopped and removed by `close`.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './processes.js';
import { waitFor } from './platform.js';

export interface TestPrometheus {
  readonly url: string;
  /** An instant query's result vector: each series' labels and value. */
  query(expr: string): Promise<{ metric: Record<string, string>; value: number }[]>;
  close(): Promise<void>;
}

/** `targets`: job name → `host:port` scraped at /metrics. */
export async function startPrometheus(targets: Record<string, string>): Promise<TestPrometheus> {
  const dir = mkdtempSync(join(tmpdir(), 'pratai-prometheus-'));
  const config = [
    'global:',
    '  scrape_interval: 1s',
    '  scrape_timeout: 1s',
    'scrape_configs:',
    ...Object.entries(targets).flatMap(([job, target]) => [`  - job_name: ${job}`, '    static_configs:', `      - targets: ['${target}']`]),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'prometheus.yml'), config);
  const port = await freePort();
  const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const closed = once(child, 'close');
  const url = `http://127.0.0.1:${port}`;
  const close = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await closed;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(`Prometheus to be ready on ${url}`, async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}):\n${output}`);
      const ready = await fetch(`${url}/-/ready`).catch(() => undefined);
      return ready?.ok ? true : undefined;
    }, 30_000);
  } catch (error) {
    await close();
    throw error;
  }
  return {
    url,
    close,
    async query(expr) {
      const response = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await response.json()) as { status: string; error?: string; data?: { result: { metric: Record<string, string>; value: [number, string] }[] } };
      if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error ?? response.status}`);
      return (body.data?.result ?? []).map(({ metric, value }) => ({ metric, value: Number(value[1]) }));
    },
  };
}
