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
  ms: number;
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

  /** `extraMs`: more time for a command that carries a lot (see withDeadlines). */
  run<T>(p: Promise<T>, extraMs = 0): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const ms = this.ms + extraMs;
      const w: Waiting = { at: Date.now() + ms, ms, reject };
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
      w.reject(new DeadlineError(`Redis did not answer within ${Math.round(w.ms)} ms`));
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
 * A command's deadline grows with what it moves, at this rate: a 50 MB preload journal or an MGET of a
 * thousand entries is not a hung server. Each key of a list argument counts as 1 KB of reply.
 */
const BYTES_PER_MS = 10_000;
const KEY_REPLY_BYTES = 1024;

function argBytes(args: unknown[]): number {
  let n = 0;
  for (const a of args) {
    if (typeof a === 'string') n += a.length;
    else if (Buffer.isBuffer(a)) n += a.length;
    else if (Array.isArray(a)) for (const x of a) n += (typeof x === 'string' ? x.length : 0) + KEY_REPLY_BYTES;
  }
  return n;
}

/**
 * The client with a deadline on every command that returns a promise, including MULTI's exec() (whose
 * allowance counts every queued command). Everything else (properties, events, connect/close) passes through.
 */
export function withDeadlines<C extends object>(client: C, ms: number): C {
  if (!(ms > 0)) return client;
  const deadlines = new Deadlines(ms);
  const call = (t: object, prop: string, v: unknown, args: unknown[]): unknown => (v as (...a: unknown[]) => unknown).apply(t, args);
  const chain = (target: object): object => {
    let bytes = 0;
    const proxy: object = new Proxy(target, {
      get(t, prop) {
        const v: unknown = Reflect.get(t, prop);
        if (typeof v !== 'function' || typeof prop !== 'string') return v;
        return (...args: unknown[]) => {
          const r = call(t, prop, v, args);
          if (isThenable(r)) return deadlines.run(r, bytes / BYTES_PER_MS);
          bytes += argBytes(args);
          // Chained calls keep going through the proxy, so their payload is counted too.
          return r === t ? proxy : r;
        };
      },
    });
    return proxy;
  };
  return new Proxy(client, {
    get(t, prop) {
      // Read from the target itself: node-redis getters use private fields, which a proxy receiver lacks.
      const v: unknown = Reflect.get(t, prop);
      if (typeof v !== 'function' || typeof prop !== 'string' || EXEMPT.has(prop)) return v;
      return (...args: unknown[]) => {
        const r = call(t, prop, v, args);
        if (isThenable(r)) return deadlines.run(r, argBytes(args) / BYTES_PER_MS);
        // multi() builds a chain whose exec() is the command: give the chain the same deadline.
        if ((prop === 'multi' || prop === 'MULTI') && r !== null && typeof r === 'object') return chain(r);
        return r;
      };
    },
  });
}
