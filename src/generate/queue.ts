/**
 * Load control for the model: a bounded queue in front of a fixed number of model slots, one shared run for
 * concurrent identical questions (single-flight), and a deadline per caller. A run older than the deadline is
 * told to stop through its AbortSignal (an engine request is cancelled, an in-process decoder stops at its
 * next token); its slot stays busy until the run really ends, so concurrency is never exceeded.
 */
import { KvcacheError } from '../errors';

export interface QueueOptions {
  concurrency: number;
  /** Runs waiting for a slot beyond this are refused with BUSY. */
  maxQueue: number;
  /** From enqueue to answer; past it the caller gets GENERATION_TIMEOUT. */
  timeoutMs: number;
}

export interface Timed<T> {
  value: T;
  queuedMs: number;
  runMs: number;
  /** True when this caller joined a run another caller had started. */
  shared: boolean;
}

const now = () => performance.now();

export class GenerationQueue {
  private running = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly inflight = new Map<string, Promise<Timed<unknown>>>();

  constructor(private readonly o: QueueOptions) {
    if (!(o.concurrency >= 1) || !(o.maxQueue >= 0) || !(o.timeoutMs >= 1)) {
      throw new KvcacheError('CONFIG_INVALID', 'the generation queue needs concurrency >= 1, a queue bound >= 0 and a timeout >= 1 ms');
    }
  }

  get stats(): { running: number; waiting: number; inflight: number } {
    return { running: this.running, waiting: this.waiting.length, inflight: this.inflight.size };
  }

  run<T>(key: string, task: (signal: AbortSignal) => Promise<T>): Promise<Timed<T>> {
    const joined = this.inflight.get(key) as Promise<Timed<T>> | undefined;
    const shared = joined !== undefined;
    let run = joined;
    if (!run) {
      if (this.running >= this.o.concurrency && this.waiting.length >= this.o.maxQueue) {
        return Promise.reject(new KvcacheError('BUSY', 'the model is busy with other questions; please ask again in a minute'));
      }
      run = this.start(task);
      this.inflight.set(key, run as Promise<Timed<unknown>>);
      const forget = () => this.inflight.delete(key);
      run.then(forget, forget);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KvcacheError('GENERATION_TIMEOUT', `no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
      timer.unref();
    });
    return Promise.race([run.then((r) => ({ ...r, shared })), deadline]).finally(() => clearTimeout(timer));
  }

  private async start<T>(task: (signal: AbortSignal) => Promise<T>): Promise<Timed<T>> {
    const enqueued = now();
    // The first caller's deadline: whoever joined later gets the same run or nothing.
    const abandon = new AbortController();
    const timer = setTimeout(() => abandon.abort(new KvcacheError('GENERATION_TIMEOUT', `no answer within ${this.o.timeoutMs} ms`)), this.o.timeoutMs);
    timer.unref();
    await this.acquire();
    const started = now();
    try {
      if (abandon.signal.aborted) throw abandon.signal.reason;
      const value = await task(abandon.signal);
      return { value, queuedMs: started - enqueued, runMs: now() - started, shared: false };
    } finally {
      clearTimeout(timer);
      this.release();
    }
  }

  private acquire(): Promise<void> {
    if (this.running < this.o.concurrency) {
      this.running += 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  /** Hands the slot straight to the next waiter, so a newcomer can never slip in between. */
  private release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running -= 1;
  }
}
