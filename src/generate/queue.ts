/**
 * Load control for the model: a bounded queue in front of a fixed number of model slots, one shared run for
 * concurrent identical questions (single-flight), and a deadline per caller. The model cannot be interrupted
 * mid-inference, so a caller that times out gets its answer abandoned while the slot stays busy until the run
 * really ends: concurrency is never exceeded.
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

  run<T>(key: string, task: () => Promise<T>): Promise<Timed<T>> {
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

  private async start<T>(task: () => Promise<T>): Promise<Timed<T>> {
    const enqueued = now();
    await this.acquire();
    const started = now();
    try {
      const value = await task();
      return { value, queuedMs: started - enqueued, runMs: now() - started, shared: false };
    } finally {
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
