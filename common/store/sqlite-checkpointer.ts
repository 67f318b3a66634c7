/**
 * Checkpoints of the store's SQLite files, off the event loop. A checkpoint copies the pages the
 * WAL holds back into the database file and syncs both files: a few milliseconds that SQLite
 * would otherwise spend inside whichever commit crossed its threshold, blocking every request of
 * the process meanwhile. A worker thread of this process does them instead, with a connection of
 * its own to each file (a PASSIVE checkpoint: it never waits for or blocks a writer).
 *
 * It is asked once every CHECKPOINT_COMMITS commits (about a thousand pages: a commit writes 6 to
 * 10), at most every CHECKPOINT_INTERVAL_MS, and AFTER_COMMIT_MS after the commit that asks, once
 * what that commit was for (an answer, the next job) has gone out. Not more often: the first
 * commit after a checkpoint that emptied the WAL starts it over and syncs its header, half a
 * millisecond inside that commit; checkpointing every 100 ms made that the lot of every request
 * of a quiet platform (a sync call every 100 ms or more).
 *
 * Durability is unchanged: a commit is in the WAL when it returns, as before, and the WAL is
 * synced before its pages are copied, as SQLite's own checkpoints do. Should the worker fall
 * behind, the writer's own automatic checkpoint at FALLBACK_AUTOCHECKPOINT_PAGES still bounds the WAL.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

/** Least time between two checkpoints of one file. */
const CHECKPOINT_INTERVAL_MS = 100;
/** Least time between a commit and the checkpoint it asks for. */
const AFTER_COMMIT_MS = 20;
/** Commits between two checkpoints of one file. */
const CHECKPOINT_COMMITS = 100;
/** Pages in the WAL past which the writer checkpoints by itself (SQLite's default is 1000). */
export const FALLBACK_AUTOCHECKPOINT_PAGES = 10_000;
/** How long a checkpoint waits for another process's lock before it is left for the next one. */
const BUSY_TIMEOUT_MS = 100;

type Message = { kind: 'checkpoint' | 'close'; path: string } | { kind: 'exit' };

// Evaluated in the worker, as CommonJS or as a module (a process run with --input-type=module
// evaluates it so): it imports what it needs, nothing of this project but better-sqlite3. Messages
// wait in the port until it listens.
const WORKER_SOURCE = `
(async () => {
const { parentPort, workerData } = await import('node:worker_threads');
const { default: Database } = await import(workerData.betterSqlite3);
const connections = new Map();
parentPort.on('message', ({ kind, path }) => {
  if (kind === 'exit') process.exit(0);
  let db = connections.get(path);
  if (kind === 'close') {
    db?.close();
    connections.delete(path);
    return;
  }
  try {
    if (db === undefined) {
      db = new Database(path, { fileMustExist: true, timeout: ${BUSY_TIMEOUT_MS} });
      connections.set(path, db);
    }
    db.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // A busy or vanished file: the next commit asks again, and the writer's own checkpoint remains.
  }
});
})();
`;

let worker: Worker | undefined;
let users = 0;
/** Set when the worker failed: the writers' own checkpoints are left to do the work, and nobody else is started. */
let failed = false;

function startWorker(): Worker {
  const started = new Worker(WORKER_SOURCE, { eval: true, workerData: { betterSqlite3: pathToFileURL(createRequire(import.meta.url).resolve('better-sqlite3')).href } });
  // It must not keep the process alive: the files' owners close them.
  started.unref();
  started.on('error', (error) => {
    failed = true;
    if (worker === started) worker = undefined;
    process.emitWarning(`SQLite checkpoints are left to the writer: the checkpoint worker failed: ${error.message}`);
  });
  return started;
}

function post(message: Message): void {
  if (failed) return;
  worker ??= startWorker();
  worker.postMessage(message);
}

/** Checkpoints one SQLite file in the background; `committed()` after each commit of its writer. */
export class SqliteCheckpointer {
  private lastAskedAt = 0;
  /** Commits since the last checkpoint was asked for. */
  private commits = 0;
  private scheduled: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly path: string) {
    users += 1;
  }

  committed(): void {
    this.commits += 1;
    if (this.closed || this.scheduled !== undefined || this.commits < CHECKPOINT_COMMITS) return;
    const now = Date.now();
    const delayMs = Math.max(AFTER_COMMIT_MS, this.lastAskedAt + CHECKPOINT_INTERVAL_MS - now);
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      this.lastAskedAt = Date.now();
      this.commits = 0;
      post({ kind: 'checkpoint', path: this.path });
    }, delayMs);
    // Owners close their files; a pending checkpoint keeps nobody alive.
    this.scheduled.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.scheduled);
    this.scheduled = undefined;
    users -= 1;
    if (worker === undefined) return;
    worker.postMessage({ kind: 'close', path: this.path } satisfies Message);
    if (users === 0) {
      // It closes its connections first: it handles messages in order.
      worker.postMessage({ kind: 'exit' } satisfies Message);
      worker = undefined;
    }
  }
}
