/**
 * Runs the built `pratai` CLI (dist/cli/main.js, which `npm test`'s setup builds) as a user
 * does: a subprocess with its own environment, folder and home, read back as stdout, stderr and
 * exit code.
 *
 *   const cli = new TestCli({ OS_PRATAI_URL: platform.apiUrl });
 *   const { code, stdout, stderr } = await cli.run(['function-list', '-f', 'json']);
 *   cli.close();
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CLI_MAIN = join(import.meta.dirname, '..', '..', 'dist', 'cli', 'main.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Variables added to (or, when undefined, taken out of) the CLI's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Standard input. */
  input?: string;
}

export class TestCli {
  /** A folder of this CLI's own: its HOME and its working folder, so no clouds.yaml leaks in. */
  readonly home = mkdtempSync(join(tmpdir(), 'pratai-cli-test-'));

  constructor(private readonly env: Record<string, string> = {}) {
    assert.ok(existsSync(CLI_MAIN), `${CLI_MAIN} is missing: run \`npm run build\` first`);
  }

  run(args: string[], options: RunOptions = {}): Promise<CliRun> {
    return this.spawn(process.execPath, [CLI_MAIN, ...args], options);
  }

  /**
   * Runs on a pseudo-terminal (util-linux `script`), as in an interactive shell: stdout and
   * stderr both arrive, interleaved, in `stdout`.
   */
  runOnTerminal(args: string[], options: RunOptions = {}): Promise<CliRun> {
    const command = [process.execPath, CLI_MAIN, ...args].map((word) => `'${word.replaceAll("'", "'\\''")}'`).join(' ');
    return this.spawn('script', ['--quiet', '--return', '--command', command, '/dev/null'], options);
  }

  private spawn(file: string, args: string[], options: RunOptions): Promise<CliRun> {
    // The developer's own OpenStack settings must not reach the CLI under test.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(OS_|CLIFF_|XDG_CONFIG_HOME$|NODE_OPTIONS$)/.test(name)));
    const env: Record<string, string> = { ...inherited, HOME: this.home, ...this.env };
    for (const [name, value] of Object.entries(options.env ?? {})) {
      if (value === undefined) delete env[name];
      else env[name] = value;
    }
    return new Promise((resolve) => {
      const child = execFile(file, args, { env, cwd: options.cwd ?? this.home, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr });
      });
      child.stdin?.end(options.input ?? '');
    });
  }

  /** Runs, asserts it succeeded with nothing on stderr, and answers stdout. */
  async ok(args: string[], options: RunOptions = {}): Promise<string> {
    const result = await this.run(args, options);
    assert.equal(result.code, 0, `pratai ${args.join(' ')} failed (${result.code}): ${result.stderr}`);
    assert.equal(result.stderr, '', `pratai ${args.join(' ')} wrote to stderr`);
    return result.stdout;
  }

  /** Runs, asserts it failed with exactly one line on stderr and nothing on stdout; answers the line. */
  async fails(args: string[], options: RunOptions & { code?: number } = {}): Promise<string> {
    const result = await this.run(args, options);
    assert.equal(result.code, options.code ?? 1, `pratai ${args.join(' ')}: exit code (stdout: ${result.stdout}; stderr: ${result.stderr})`);
    assert.equal(result.stdout, '', `pratai ${args.join(' ')} wrote to stdout`);
    assert.match(result.stderr, /^[^\n]+\n$/, `pratai ${args.join(' ')} wrote more than one line on stderr: ${result.stderr}`);
    assert.doesNotMatch(result.stderr, /^\s+at /m, 'no stack trace');
    return result.stderr.trimEnd();
  }

  close(): void {
    rmSync(this.home, { recursive: true, force: true });
  }
}
