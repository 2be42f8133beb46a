/**
 * Single-flight across replicas: of all the processes asked the same new question at once, one runs the model
 * and the others wait for its answer instead of paying for the model again.
 *
 * The runner holds a lease in the shared store (SET NX PX on Redis), renewed while the model runs and released
 * by its owner only. Waiters poll for the answer in the cache; if the runner abstained it leaves a short-lived
 * marker so they abstain too; if it died, its lease lapses and a waiter takes over. Waiting is bounded.
 * If the store cannot be reached, the question is answered here (a second model call beats no answer).
 */
import { randomUUID } from 'node:crypto';
import type { KvStore } from '../store/types';
import { hashText, keys } from './keys';

export interface FlightOptions {
  store: KvStore;
  /** Longest a waiter waits for another replica's answer. */
  waitMs: number;
  leaseMs?: number;
  pollMs?: number;
}

export type FlightResult<T, W> = { ran: true; value: T | null } | { ran: false; value: W | null; timedOut: boolean };

const ABSTAINED_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ReplicaFlight {
  private readonly token = `${process.pid}-${randomUUID()}`;
  private readonly leaseMs: number;
  private readonly pollMs: number;

  constructor(private readonly o: FlightOptions) {
    this.leaseMs = o.leaseMs ?? 10_000;
    this.pollMs = o.pollMs ?? 50;
  }

  /**
   * Runs `produce` if this process wins the question, else waits for `answered` (another replica's answer).
   * `produce` returning null means "abstained"; it is shared with the waiters.
   */
  async run<T, W>(tenant: string, normalized: string, produce: () => Promise<T | null>, answered: () => Promise<W | null>): Promise<FlightResult<T, W>> {
    const name = `${tenant}:${hashText(normalized)}`;
    const lease = keys.lease(`gen:${name}`);
    const abstained = keys.lease(`gen-none:${name}`);
    const deadline = Date.now() + this.o.waitMs;
    for (let first = true; ; first = false) {
      if (!first) {
        const other = await answered().catch(() => null);
        if (other !== null) return { ran: false, value: other, timedOut: false };
        if ((await this.o.store.get(abstained).catch(() => undefined)) !== undefined) return { ran: false, value: null, timedOut: false };
        if (Date.now() > deadline) return { ran: false, value: null, timedOut: true };
      }
      let won: boolean;
      try {
        won = await this.o.store.claim(lease, this.token, this.leaseMs);
      } catch {
        return { ran: true, value: await produce() };
      }
      if (won) return { ran: true, value: await this.runHolding(lease, abstained, produce) };
      await sleep(this.pollMs);
    }
  }

  private async runHolding<T>(lease: string, abstained: string, produce: () => Promise<T | null>): Promise<T | null> {
    const renew = setInterval(() => void this.o.store.extendClaim(lease, this.token, this.leaseMs).catch(() => undefined), this.leaseMs / 3);
    renew.unref();
    try {
      const value = await produce();
      if (value === null) await this.o.store.set(abstained, 1, ABSTAINED_MS).catch(() => undefined);
      return value;
    } finally {
      clearInterval(renew);
      await this.o.store.releaseClaim(lease, this.token).catch(() => undefined);
    }
  }
}
