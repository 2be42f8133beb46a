import type { Clock } from '../../src/core/types';

/** A clock tests move by hand: TTL and recency are tested without sleeping. */
export class FakeClock implements Clock {
  constructor(public t = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
