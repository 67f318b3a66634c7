/**
 * `function-execute`: calls a function's webhook with a payload, as `curl -d '{"payload": ...}'`
 * would, and prints the request id; with `--wait`, follows the request to its outcome.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { RequestRecord } from '../../common/domain.js';
import type { CliContext } from '../context.js';
import { CliError, usageError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { requestShown } from '../views.js';
import { waitForRequest } from '../wait.js';
import { versionArgument } from './versions.js';

type Opts = Record<string, unknown>;

/** The payload of `--payload JSON` or `--file PATH` (`-` for stdin); null when neither is given. */
function readPayload(opts: Opts): unknown {
  if (opts.payload !== undefined && opts.file !== undefined) throw usageError('Give --payload or --file, not both');
  let text: string;
  let from: string;
  if (typeof opts.payload === 'string') {
    [text, from] = [opts.payload, '--payload'];
  } else if (typeof opts.file === 'string') {
    from = opts.file === '-' ? 'standard input' : opts.file;
    try {
      text = readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
    } catch (error) {
      throw new CliError(`Cannot read --file ${opts.file}: ${(error as Error).message}`, 1, { cause: error });
    }
  } else {
    return null;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw usageError(`Expected the payload in ${from} to be JSON, got ${JSON.stringify(text.length > 40 ? `${text.slice(0, 37)}...` : text)}: ${(error as Error).message}`);
  }
}

/** The payloads of a JSON-lines file (blank lines skipped), each line checked. */
function readPayloadLines(path: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (error) {
    throw new CliError(`Cannot read --payloads-file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`, 1, { cause: error });
  }
  const payloads: unknown[] = [];
  for (const [index, line] of text.split('\n').entries()) {
    if (line.trim() === '') continue;
    try {
      payloads.push(JSON.parse(line));
    } catch (error) {
      throw usageError(`Expected line ${index + 1} of --payloads-file ${path} to be JSON: ${(error as Error).message}`);
    }
  }
  if (payloads.length === 0) throw usageError(`--payloads-file ${path} holds no payload`);
  return payloads;
}

/** Why a request that did not succeed ended, in one line. */
function outcomeLine(request: RequestRecord): string {
  const reason = request.error === null ? '' : `: ${request.error.type}: ${request.error.message}`;
  return `Request ${request.request_id} ended ${request.status}${reason}`;
}

export function registerExecuteCommand(program: Command, context: CliContext): void {
  withOutputOptions(
    program
      .command('function-execute')
      .description("Call a function's webhook; prints the request id, or with --wait the request's outcome and logs")
      .argument('<function>', 'ID or name of the function')
      .option('--payload <json>', 'the payload, as JSON (default null)')
      .option('--file <path>', 'a file holding the payload as JSON (- for standard input)')
      .option('--payloads-file <path>', 'a bulk call: a file of payloads, one JSON value a line (up to 1,000; - for standard input); prints a request id each, in order')
      .option('--wait', 'wait until the request ends, showing progress on stderr; fails unless it succeeded')
      .option('--version <n>', 'call this published version of the function')
      .option('--alias <name>', 'call the version this alias targets'),
    'show',
  ).action(async (idOrName: string, opts: Opts) => {
    if (opts.version !== undefined && opts.alias !== undefined) throw usageError('Give --version or --alias, not both');
    const target = {
      ...(typeof opts.version === 'string' && { version: versionArgument('--version', opts.version) }),
      ...(typeof opts.alias === 'string' && { alias: opts.alias }),
    };
    if (typeof opts.payloadsFile === 'string') {
      if (opts.payload !== undefined || opts.file !== undefined || opts.wait === true) throw usageError('Give --payloads-file alone, without --payload, --file or --wait');
      const payloads = readPayloadLines(opts.payloadsFile);
      const api = context.api();
      const fn = await api.findFunction(idOrName);
      const ids = await api.executeBulk(fn, payloads, target);
      return context.printList({ columns: ['Request ID'], rows: ids.map((id) => [id]) }, opts);
    }
    const payload = readPayload(opts);
    const api = context.api();
    const fn = await api.findFunction(idOrName);
    const requestId = await api.execute(fn, payload, target);
    if (opts.wait !== true) return context.printOne({ fields: ['request_id', 'function_id'], values: [requestId, fn.function_id] }, opts);
    const request = await waitForRequest(context, api, requestId);
    context.printOne(requestShown(request), opts);
    if (request.status !== 'succeeded') throw new CliError(outcomeLine(request));
  });
}
