/**
 * What `--wait` shows while it waits, on stderr so stdout keeps only the result: a spinner that
 * rewrites one line when stderr is a terminal, and a plain line per change of status otherwise
 * (a log file or a CI job reads those better than carriage returns).
 */

export interface Progress {
  /** The state being waited on changed (or is the same, which a spinner shows as time passing). */
  update(status: string): void;
  /** Waiting is over: leaves one final line. */
  done(status: string): void;
}

const FRAMES = ['|', '/', '-', '\\'];
const FRAME_MS = 120;

export function startProgress(stream: NodeJS.WritableStream & { isTTY?: boolean }, label: string): Progress {
  const started = Date.now();
  const elapsed = (): string => `${Math.round((Date.now() - started) / 1000)}s`;
  if (stream.isTTY !== true) {
    let last: string | undefined;
    return {
      update(status) {
        if (status !== last) stream.write(`${label}: ${status}\n`);
        last = status;
      },
      done(status) {
        if (status !== last) stream.write(`${label}: ${status}\n`);
      },
    };
  }
  let status = 'starting';
  let frame = 0;
  const draw = (): void => {
    frame = (frame + 1) % FRAMES.length;
    stream.write(`\r\x1b[2K${FRAMES[frame]} ${label}: ${status} (${elapsed()})`);
  };
  const timer = setInterval(draw, FRAME_MS);
  // The spinner alone must never keep the CLI alive.
  timer.unref();
  draw();
  return {
    update(next) {
      status = next;
    },
    done(final) {
      clearInterval(timer);
      stream.write(`\r\x1b[2K${label}: ${final} (${elapsed()})\n`);
    },
  };
}
