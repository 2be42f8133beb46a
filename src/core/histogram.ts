/**
 * A fixed-bucket latency histogram: bucket i covers (B^(i-1), B^i] × BASE ms. Fixed buckets add and merge by
 * plain counter arithmetic, so they persist as a small sparse map and sum across processes and replicas, which
 * a reservoir of samples cannot. Percentiles are exact to one bucket width (10%).
 */
const BASE_MS = 0.001;
const GROWTH = 1.1;
const LOG_GROWTH = Math.log(GROWTH);
const MAX_BUCKET = 250; // 0.001 ms × 1.1^250 ≈ 22 hours: nothing slower is measured

export type Histogram = Record<string, number>;

export function bucketOf(ms: number): number {
  if (!(ms > BASE_MS)) return 0;
  return Math.min(MAX_BUCKET, Math.ceil(Math.log(ms / BASE_MS) / LOG_GROWTH));
}

export function bucketUpperMs(bucket: number): number {
  return BASE_MS * GROWTH ** bucket;
}

export function addSample(h: Histogram, ms: number, count = 1): void {
  const b = String(bucketOf(ms));
  h[b] = (h[b] ?? 0) + count;
}

export function mergeInto(target: Histogram, delta: Histogram): void {
  for (const [b, n] of Object.entries(delta)) target[b] = (target[b] ?? 0) + n;
}

export function totalCount(h: Histogram): number {
  let n = 0;
  for (const v of Object.values(h)) n += v;
  return n;
}

/** The upper bound of the bucket holding quantile q (0..1); null when empty. */
export function quantile(h: Histogram, q: number): number | null {
  const total = totalCount(h);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  const buckets = Object.keys(h)
    .map(Number)
    .sort((a, b) => a - b);
  let seen = 0;
  for (const b of buckets) {
    seen += h[String(b)] ?? 0;
    if (seen >= rank) return bucketUpperMs(b);
  }
  return bucketUpperMs(buckets[buckets.length - 1] ?? 0);
}
