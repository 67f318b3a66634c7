/** The machine and the versions a bench run was measured on. */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';

const execFileAsync = promisify(execFile);

async function output(command: string, args: string[]): Promise<string> {
  try {
    return (await execFileAsync(command, args)).stdout.trim();
  } catch {
    return 'unknown';
  }
}

export function machine(): Record<string, string | number> {
  const debian = (() => {
    try {
      return `Debian ${readFileSync('/etc/debian_version', 'utf8').trim()}`;
    } catch {
      return 'Linux';
    }
  })();
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown',
    memory: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: `${debian}, kernel ${release()}`,
    // Other work on the machine shows in every figure: the 1-minute load when the run started (and ended).
    'load average (start, end)': loadavg()[0]?.toFixed(2) ?? 'unknown',
  };
}

export async function versions(runtimeImage: string): Promise<Record<string, string>> {
  const pkg = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string };
  const sqlite = new Database(':memory:');
  const sqliteVersion = sqlite.prepare('SELECT sqlite_version()').pluck().get() as string;
  sqlite.close();
  return {
    pratai: pkg.version,
    node: process.version,
    docker: await output('docker', ['version', '--format', '{{.Server.Version}}']),
    python: await output('docker', ['run', '--rm', '--network', 'none', '--entrypoint', 'python3', runtimeImage, '-c', 'import platform; print(platform.python_version())']),
    sqlite: sqliteVersion,
    rabbitmq: (await output('rabbitmqctl', ['-q', 'version'])) || 'unknown',
  };
}
