/**
 * Whether the store answers, from the outcome of every call that reached it. An outage is logged once when
 * it starts and once when it ends (with how many calls failed meanwhile), never once per request; /healthz
 * reports it.
 */
import { KvcacheError } from '../errors';
import type { Logger } from '../logger';

/** True for a store outage: the answer pipeline degrades on it; any other error is a bug and propagates. */
export const isOutage = (err: unknown): boolean => err instanceof KvcacheError && err.code === 'STORE_UNAVAILABLE';

export class StoreHealth {
  private since: number | null = null;
  private failures = 0;

  constructor(private readonly logger: Logger) {}

  get degraded(): boolean {
    return this.since !== null;
  }

  record(ok: boolean, op: string, err?: unknown): void {
    if (ok) {
      if (this.since === null) return;
      this.logger.warn({ downMs: Date.now() - this.since, failedCalls: this.failures }, 'store is back');
      this.since = null;
      this.failures = 0;
      return;
    }
    if (!isOutage(err)) return;
    this.failures += 1;
    if (this.since !== null) return;
    this.since = Date.now();
    this.logger.warn({ during: op, err: (err as Error).message }, 'store unavailable: answering from memory, the model or the fallback until it is back');
  }

  status(): { degraded: boolean; downMs: number | null; failedCalls: number } {
    return { degraded: this.degraded, downMs: this.since === null ? null : Date.now() - this.since, failedCalls: this.failures };
  }
}
