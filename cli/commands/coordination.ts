/**
 * The coordination commands, as FaaSKeeper's fkCli has them: node-create, node-get, node-set,
 * node-delete, node-list and node-watch on the project's tree of nodes. Data is given and shown
 * as UTF-8 text (the REST API carries any bytes, in base64).
 *
 * An ephemeral node lives as long as its session: `node-create --ephemeral` holds its session
 * open, printing the path, until Ctrl-C (or SIGTERM) closes it and the node goes. `node-watch`
 * holds a session too, setting its watch again after each event (ZooKeeper's watches fire once):
 * a change made between an event and the watch set again is not reported, as with ZooKeeper.
 */
import type { Command } from 'commander';
import type { WatchEventView } from '../api.js';
import type { CliContext } from '../context.js';
import { HeldSession, interrupted } from '../coordination-session.js';
import { ApiError, usageError } from '../errors.js';
import { withOutputOptions } from '../output.js';
import { nodeChildrenListing, nodeShown } from '../views.js';

type Opts = Record<string, unknown>;

/** `--version N`: the version a node must have (ZooKeeper's -1 matches any). */
function versionOption(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^(-1|0|[1-9]\d*)$/.test(raw)) throw usageError(`Expected --version to be the node's version (an integer from 0, or -1 for any), got ${JSON.stringify(raw)}`);
  return Number(raw);
}

function countOption(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !/^[1-9]\d*$/.test(raw)) throw usageError(`Expected --count to be a positive integer, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/**
 * A node path: absolute, as ZooKeeper's. `.` and `..` are refused here, as ZooKeeper refuses
 * them, because a URL resolves them: `/a/../b` would reach `/b`. The server checks the rest.
 */
function nodePath(raw: string): string {
  if (!raw.startsWith('/')) throw usageError(`Expected an absolute node path (starting with /), got ${JSON.stringify(raw)}`);
  if (raw.split('/').some((name) => name === '.' || name === '..')) throw usageError(`Expected a node path without . or .. names, got ${JSON.stringify(raw)}`);
  return raw;
}

const dataOf = (opts: Opts): Buffer => Buffer.from(typeof opts.data === 'string' ? opts.data : '', 'utf8');

export function registerCoordinationCommands(program: Command, context: CliContext): void {
  program
    .command('node-create')
    .description('Create a coordination node and print its path (a sequential node gets a counter appended)')
    .argument('<path>', 'path of the node, e.g. /app/lock')
    .option('--data <text>', 'its data (default none)')
    .option('--ephemeral', 'an ephemeral node: it lives until Ctrl-C, which closes the session holding it')
    .option('--sequential', 'append a counter, unique among its siblings, to the name')
    .action(async (raw: string, opts: Opts) => {
      const path = nodePath(raw);
      const api = context.api();
      const node = { data: dataOf(opts), ephemeral: opts.ephemeral === true, sequential: opts.sequential === true };
      if (!node.ephemeral) {
        context.write(`${(await api.createNode(path, node)).path}\n`);
        return;
      }
      const session = await HeldSession.open(api);
      const signal = interrupted();
      try {
        const created = await api.createNode(path, node, session.id);
        context.write(`${created.path}\n`);
        context.warn(`Holding ephemeral node ${created.path} in session ${session.id}: Ctrl-C deletes it`);
        await Promise.race([session.follow(() => undefined), signal.done]);
      } finally {
        signal.dispose();
        await session.close();
      }
    });

  withOutputOptions(program.command('node-get').description("Show a coordination node's data and stat").argument('<path>', 'path of the node'), 'show').action(async (raw: string, opts: Opts) => {
      const path = nodePath(raw);
    const { data, stat } = await context.api().getNode(path);
    context.printOne(nodeShown(path, data, stat), opts);
  });

  withOutputOptions(
    program
      .command('node-set')
      .description("Set a coordination node's data; shows its new stat")
      .argument('<path>', 'path of the node')
      .requiredOption('--data <text>', 'its new data')
      .option('--version <n>', 'only if the node has this version (its data set that many times)'),
    'show',
  ).action(async (raw: string, opts: Opts) => {
      const path = nodePath(raw);
    const api = context.api();
    const set = await api.setNode(path, dataOf(opts), versionOption(opts.version));
    context.printOne(nodeShown(set.path, Buffer.from(opts.data as string, 'utf8'), set.stat), opts);
  });

  program
    .command('node-delete')
    .description('Delete a coordination node that has no children')
    .argument('<path>', 'path of the node')
    .option('--version <n>', 'only if the node has this version')
    .action(async (raw: string, opts: Opts) => {
      const path = nodePath(raw);
      await context.api().deleteNode(path, versionOption(opts.version));
    });

  withOutputOptions(program.command('node-list').description("List a coordination node's children, by name").argument('<path>', 'path of the node'), 'list').action(async (raw: string, opts: Opts) => {
      const path = nodePath(raw);
    context.printList(nodeChildrenListing(await context.api().listChildren(path)), opts);
  });

  program
    .command('node-watch')
    .description("Print a coordination node's events as they happen (its data, or with --children its children), until Ctrl-C")
    .argument('<path>', 'path of the node (for its data, it need not exist yet)')
    .option('--children', "watch the node's children rather than its data")
    .option('--count <n>', 'stop after this many events')
    .option('--json', 'print each event as a JSON object (type, path, zxid, watch)')
    .action(async (raw: string, opts: Opts) => {
      const path = nodePath(raw);
      const count = countOption(opts.count);
      const kind = opts.children === true ? 'child' : 'data';
      const api = context.api();
      const session = await HeldSession.open(api);
      const signal = interrupted();
      let finish = (): void => undefined;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      let seen = 0;
      let handling: Promise<void> = Promise.resolve();
      let failed: Error | undefined;
      const handle = async (event: WatchEventView): Promise<void> => {
        if (count !== undefined && seen >= count) return;
        seen += 1;
        let gone = false;
        // Set again before printing, so whoever reads the line knows the next change is seen.
        if (count === undefined || seen < count) {
          try {
            for (const pending of await api.watchNode(path, kind, session.id)) enqueue(pending);
          } catch (error) {
            if (!(error instanceof ApiError && error.code === 'NoNode')) throw error;
            gone = true;
          }
        }
        context.write(opts.json === true ? `${JSON.stringify(event)}\n` : `${event.type} ${event.path}\n`);
        if (gone) context.warn(`${path} was deleted: no children left to watch`);
        if (gone || seen === count) finish();
      };
      const enqueue = (event: WatchEventView): void => {
        handling = handling.then(() => handle(event)).catch((error: unknown) => {
          failed ??= error instanceof Error ? error : new Error(String(error));
          finish();
        });
      };
      try {
        for (const pending of await api.watchNode(path, kind, session.id)) enqueue(pending);
        context.warn(`Watching ${kind === 'child' ? 'the children of ' : ''}${path} in session ${session.id}${count === undefined ? '' : ` for ${count} event${count === 1 ? '' : 's'}`}: Ctrl-C stops`);
        await Promise.race([session.follow(enqueue), signal.done, finished]);
        await handling;
        if (failed !== undefined) throw failed;
      } finally {
        signal.dispose();
        await session.close();
      }
    });
}
