/** A job of the embedded queue waiting to be delivered: its row and when it becomes due. */
export interface WaitingJob {
  readonly seq: number;
  /** Epoch milliseconds. */
  readonly availableAt: number;
}

const before = (a: WaitingJob, b: WaitingJob): boolean => a.availableAt < b.availableAt || (a.availableAt === b.availableAt && a.seq < b.seq);

/**
 * The embedded queue's waiting jobs in delivery order, earliest due first and then in publish
 * order (a binary heap): what the queue would otherwise ask its file for on every claim. Jobs
 * published now arrive in order, so adding one costs a comparison or two.
 */
export class WaitingJobs {
  private readonly heap: WaitingJob[] = [];

  get size(): number {
    return this.heap.length;
  }

  add(job: WaitingJob): void {
    const { heap } = this;
    heap.push(job);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(job, heap[parent] as WaitingJob)) break;
      heap[i] = heap[parent] as WaitingJob;
      i = parent;
    }
    heap[i] = job;
  }

  /** When the next job is due (epoch ms), Infinity when none waits. */
  nextDueAt(): number {
    return this.heap[0]?.availableAt ?? Infinity;
  }

  /** Takes the next job if it is due at `now`. */
  takeDue(now: number): WaitingJob | undefined {
    const { heap } = this;
    const first = heap[0];
    if (first === undefined || first.availableAt > now) return undefined;
    const last = heap.pop() as WaitingJob;
    if (heap.length > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= heap.length) break;
        const right = left + 1;
        const child = right < heap.length && before(heap[right] as WaitingJob, heap[left] as WaitingJob) ? right : left;
        if (!before(heap[child] as WaitingJob, last)) break;
        heap[i] = heap[child] as WaitingJob;
        i = child;
      }
      heap[i] = last;
    }
    return first;
  }
}
