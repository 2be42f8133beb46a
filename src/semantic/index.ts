/**
 * Exact nearest-neighbour search over unit vectors packed in one Float32Array (cosine = dot product).
 *
 * Every phrasing (question or alternate) of an entry is one row; a search scores every row and keeps, per
 * entry, its best row, because the decision rule compares the nearest entry with the nearest *other* entry
 * (the margin). A full scan is O(rows x dims): about 1 ms per 10k rows of 384 dims on one core here, so it is
 * fine to ~100k rows (bench:semantic measures it); past that an approximate index (HNSW, e.g. hnswlib-node, or
 * Redis/RediSearch vector search shared by the replicas) would replace this class behind the same search().
 */

export interface IndexedEntry {
  /** Entry id as stored in the cache. */
  id: string;
  /** The tenant that holds the entry (the asker's or the default FAQ's). */
  tenant: string;
  phrasings: string[];
}

export interface Neighbour {
  entry: number;
  /** Cosine similarity of the entry's nearest phrasing. */
  similarity: number;
  /** Which of the entry's phrasings was nearest. */
  phrasing: number;
  /** Mean similarity of the entry's (up to) 3 nearest phrasings: one lucky phrasing counts less. */
  top3: number;
  /** How many of the 5 nearest phrasings overall belong to this entry. */
  votes: number;
}

const VOTERS = 5;

export class VectorIndex {
  readonly dims: number;
  readonly entries: IndexedEntry[] = [];
  private data: Float32Array;
  private rowEntry: Int32Array;
  private rowPhrasing: Int32Array;
  private rows = 0;

  constructor(dims: number, capacity = 1024) {
    if (!(dims > 0)) throw new Error('VectorIndex needs a positive dimension');
    this.dims = dims;
    this.data = new Float32Array(dims * Math.max(1, capacity));
    this.rowEntry = new Int32Array(Math.max(1, capacity));
    this.rowPhrasing = new Int32Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.rows;
  }

  /** Adds an entry with one vector per phrasing (same order). */
  add(entry: IndexedEntry, vectors: Float32Array[]): void {
    if (vectors.length !== entry.phrasings.length) throw new Error(`entry ${entry.id}: ${vectors.length} vectors for ${entry.phrasings.length} phrasings`);
    const e = this.entries.length;
    this.entries.push(entry);
    this.reserve(this.rows + vectors.length);
    vectors.forEach((v, p) => {
      if (v.length !== this.dims) throw new Error(`entry ${entry.id}: a vector has ${v.length} dimensions, the index ${this.dims}`);
      this.data.set(v, this.rows * this.dims);
      this.rowEntry[this.rows] = e;
      this.rowPhrasing[this.rows] = p;
      this.rows += 1;
    });
  }

  private reserve(rows: number): void {
    if (rows <= this.rowEntry.length) return;
    const cap = Math.max(rows, this.rowEntry.length * 2);
    const data = new Float32Array(cap * this.dims);
    data.set(this.data.subarray(0, this.rows * this.dims));
    const re = new Int32Array(cap);
    re.set(this.rowEntry.subarray(0, this.rows));
    const rp = new Int32Array(cap);
    rp.set(this.rowPhrasing.subarray(0, this.rows));
    this.data = data;
    this.rowEntry = re;
    this.rowPhrasing = rp;
  }

  /** The k nearest entries (each by its nearest phrasing), best first. */
  search(query: Float32Array, k: number): Neighbour[] {
    if (query.length !== this.dims) throw new Error(`query has ${query.length} dimensions, the index ${this.dims}`);
    const n = this.entries.length;
    // Per entry, its three best similarities (t1 >= t2 >= t3) and the row of the best.
    const t1 = new Float32Array(n).fill(-Infinity);
    const t2 = new Float32Array(n).fill(-Infinity);
    const t3 = new Float32Array(n).fill(-Infinity);
    const bestRow = new Int32Array(n).fill(-1);
    // The VOTERS best rows overall, kept sorted (a tiny insertion list).
    const topSim = new Float32Array(VOTERS).fill(-Infinity);
    const topEntry = new Int32Array(VOTERS).fill(-1);
    const d = this.dims;
    const data = this.data;
    for (let r = 0; r < this.rows; r++) {
      const s = dot(data, r * d, query, d);
      const e = this.rowEntry[r] as number;
      if (s > (t3[e] as number)) {
        if (s > (t1[e] as number)) {
          t3[e] = t2[e] as number;
          t2[e] = t1[e] as number;
          t1[e] = s;
          bestRow[e] = r;
        } else if (s > (t2[e] as number)) {
          t3[e] = t2[e] as number;
          t2[e] = s;
        } else {
          t3[e] = s;
        }
      }
      if (s > (topSim[VOTERS - 1] as number)) {
        let j = VOTERS - 1;
        while (j > 0 && s > (topSim[j - 1] as number)) {
          topSim[j] = topSim[j - 1] as number;
          topEntry[j] = topEntry[j - 1] as number;
          j--;
        }
        topSim[j] = s;
        topEntry[j] = e;
      }
    }
    // Partial selection of the top k entries: k is small (2-4), so k linear passes beat a sort.
    const out: Neighbour[] = [];
    const taken = new Uint8Array(n);
    for (let j = 0; j < Math.min(k, n); j++) {
      let arg = -1;
      let max = -Infinity;
      for (let e = 0; e < n; e++) {
        if (!taken[e] && (t1[e] as number) > max) {
          max = t1[e] as number;
          arg = e;
        }
      }
      if (arg < 0 || (bestRow[arg] as number) < 0) break;
      taken[arg] = 1;
      const top = [t1[arg], t2[arg], t3[arg]].filter((x): x is number => x !== undefined && x > -Infinity);
      let votes = 0;
      for (const te of topEntry) if (te === arg) votes += 1;
      out.push({ entry: arg, similarity: max, phrasing: this.rowPhrasing[bestRow[arg] as number] as number, top3: top.reduce((a, b) => a + b, 0) / top.length, votes });
    }
    return out;
  }
}

/** Dot product of a row and the query, four lanes at a time (about 3x faster than the plain loop in V8). */
function dot(data: Float32Array, off: number, q: Float32Array, d: number): number {
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  let i = 0;
  for (; i + 3 < d; i += 4) {
    a0 += data[off + i]! * q[i]!;
    a1 += data[off + i + 1]! * q[i + 1]!;
    a2 += data[off + i + 2]! * q[i + 2]!;
    a3 += data[off + i + 3]! * q[i + 3]!;
  }
  for (; i < d; i++) a0 += data[off + i]! * q[i]!;
  return a0 + a1 + a2 + a3;
}

/** Float32 vectors <-> base64, the form they are stored in (JSON values in every backend). */
export function packVectors(vectors: Float32Array[]): string {
  const dims = vectors[0]?.length ?? 0;
  const all = new Float32Array(vectors.length * dims);
  vectors.forEach((v, i) => all.set(v, i * dims));
  return Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('base64');
}

export function unpackVectors(packed: string, dims: number): Float32Array[] {
  const buf = Buffer.from(packed, 'base64');
  if (dims <= 0 || buf.byteLength % (dims * 4) !== 0) throw new Error(`stored vectors do not divide into ${dims}-dimension rows`);
  // Copy into an aligned buffer: a Buffer's byteOffset need not be a multiple of 4.
  const all = new Float32Array(buf.byteLength / 4);
  new Uint8Array(all.buffer).set(buf);
  const out: Float32Array[] = [];
  for (let i = 0; i < all.length; i += dims) out.push(all.slice(i, i + dims));
  return out;
}
