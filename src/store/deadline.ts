/**
 * A deadline on every Redis command, sent or not. node-redis's own per-command timeout only covers a command
 * still waiting to be written: once written it waits for its reply for as long as the socket lives, so a
 * server that accepts a command and never answers (paused, swapping, a network black hole) would hang the
 * caller. Here one timer ticks while commands are in flight and fails those past the limit; the caller
 * degrades (L1, the model, the fallback) instead of waiting. A late reply is dropped. The client's queue is
 * bounded separately (commandsQueueMaxLength), so a server that never answers cannot grow it without limit.
 */
interface Waiting {
  at: number;
  reject: (err: Error) => void;
}

export class DeadlineError extends Error {
  readonly code = 'ETIMEDOUT';
}

export class Deadlines {
  private readonly waiting = new Set<Waiting>();
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;

  constructor(private readonly ms: number) {
    // A command fails between ms and ms + tick after it was issued.
    this.tickMs = Math.max(5, Math.min(250, Math.floor(ms / 4)));
  }

  run<T>(p: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Waiting = { at: Date.now() + this.ms, reject };
      this.waiting.add(w);
      if (!this.timer) {
        this.timer = setInterval(() => this.tick(), this.tickMs);
        this.timer.unref();
      }
      p.then(
        (v) => {
          this.waiting.delete(w);
          resolve(v);
        },
        (err: unknown) => {
          this.waiting.delete(w);
          reject(err);
        },
      );
    });
  }

  get inFlight(): number {
    return this.waiting.size;
  }

  private tick(): void {
    const now = Date.now();
    for (const w of this.waiting) {
      if (now < w.at) continue;
      this.waiting.delete(w);
      w.reject(new DeadlineError(`Redis did not answer within ${this.ms} ms`));
    }
    if (this.waiting.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

const isThenable = (v: unknown): v is Promise<unknown> => typeof (v as { then?: unknown } | null)?.then === 'function';

// Methods that open, close or subscribe: not commands with a reply to wait for.
const EXEMPT = new Set(['connect', 'close', 'destroy', 'disconnect', 'quit', 'subscribe', 'unsubscribe', 'duplicate', 'on', 'once', 'off']);

/**
 * The client with a deadline on every command that returns a promise, including MULTI's exec(). Everything
 * else (properties, events, connect/close) passes through untouched.
 */
export function withDeadlines<C extends object>(client: C, ms: number): C {
  if (!(ms > 0)) return client;
  const deadlines = new Deadlines(ms);
  const wrap = <O extends object>(target: O, depth: number): O =>
    new Proxy(target, {
      get(t, prop) {
        // Read from the target itself: node-redis getters use private fields, which a proxy receiver lacks.
        const v: unknown = Reflect.get(t, prop);
        if (typeof v !== 'function' || typeof prop !== 'string' || EXEMPT.has(prop)) return v;
        return (...args: unknown[]) => {
          const r: unknown = (v as (...a: unknown[]) => unknown).apply(t, args);
          if (isThenable(r)) return deadlines.run(r);
          // multi() builds a chain whose exec() is the command: give the chain the same deadline.
          if (depth === 0 && (prop === 'multi' || prop === 'MULTI') && r !== null && typeof r === 'object') return wrap(r, 1);
          return r;
        };
      },
    });
  return wrap(client, 0);
}
