/**
 * HNSW (Malkov & Yashunin, "Efficient and robust approximate nearest neighbor search using Hierarchical
 * Navigable Small World graphs", 2016/2018) over unit vectors packed row by row, scored by inner product
 * (= cosine on unit vectors). Written here rather than taken from npm: hnswlib-node is a native addon; the
 * pure-TS `hnsw` package keeps one object per node, draws levels from Math.random (no repeatable build) and
 * brings an IndexedDB dependency.
 *
 * - Layer 0 keeps up to M0 = 2M links per node, upper layers M (the paper's advice). Links live in Int32Arrays
 *   ([count, id, id, ...] per node and layer), so memory is bounded and known: ~155 bytes a row at M = 16
 *   (132 for layer 0, ~5 above it, the rest levels, duplicate lists and the visited marks), plus the int8 rows
 *   below (dims + 8 bytes a row): ~52 MiB at 100k rows of 384 dims.
 * - Neighbours are chosen with the paper's heuristic (Algorithm 4, without extending or keeping pruned
 *   candidates, as hnswlib does): a candidate is kept only when it is nearer to the new node than to every
 *   neighbour kept so far, which keeps links between clusters.
 * - Near-identical rows (similarity >= `dedupe` to their nearest node) join that node as duplicates instead of
 *   getting links; a search scores the duplicates of every node it returns (see HnswOptions.dedupe).
 * - Levels come from a seeded generator (mulberry32), drawn in insertion order, so the same rows inserted in the
 *   same order give the same graph, whatever the batches they were inserted in.
 * - Insert-only: the owner rebuilds when rows are removed or changed.
 *
 * Distances: a graph walk scores thousands of rows per insert, at random places in memory, so their cost decides
 * the build time. The graph therefore reads its own copy of the rows, quantized to int8 (one scale per row: a
 * quarter of the float32 bytes), scored by a 172-byte WebAssembly SIMD module (source below). Measured here on
 * 20k rows of 384 dims: a build of 29 s with a float32 loop in JS, 7 s with float32 SIMD, 3.5 s with int8 SIMD.
 * Integer sums are exact, so the plain-JS fallback (where WebAssembly SIMD is missing; slower) gives the same
 * numbers and the same graph. The quantization moves a similarity by ~1e-3: the graph only ranks with it, and
 * VectorIndex scores the rows it returns again from the float32 rows.
 */
import { seededRandom } from '../random';

/**
 * The rows a graph reads: rows 0.., and the query being searched as row -1. dot() is the inner product of two
 * of them.
 */
export interface RowSource {
  readonly dims: number;
  dot(a: number, b: number): number;
  setQuery(query: Float32Array): void;
}

/*
 * The module, from this text (wabt's wat2wasm, SIMD on; v128 locals start at zero):
 *
 * (module
 *   (import "env" "memory" (memory 1))
 *   ;; dot8(a, b, n): the dot product of two int8 vectors of n bytes (n a multiple of 16) at byte offsets a and b:
 *   ;; 16 bytes a step, widened to int16 and summed in pairs into four int32 lanes.
 *   (func (export "dot8") (param $a i32) (param $b i32) (param $n i32) (result i32)
 *     (local $acc v128) (local $end i32) (local $x v128) (local $y v128)
 *     (local.set $end (i32.add (local.get $a) (local.get $n)))
 *     (block $done
 *       (loop $step
 *         (br_if $done (i32.ge_u (local.get $a) (local.get $end)))
 *         (local.set $x (v128.load (local.get $a)))
 *         (local.set $y (v128.load (local.get $b)))
 *         (local.set $acc (i32x4.add (local.get $acc)
 *           (i32x4.add
 *             (i32x4.dot_i16x8_s (i16x8.extend_low_i8x16_s (local.get $x)) (i16x8.extend_low_i8x16_s (local.get $y)))
 *             (i32x4.dot_i16x8_s (i16x8.extend_high_i8x16_s (local.get $x)) (i16x8.extend_high_i8x16_s (local.get $y))))))
 *         (local.set $a (i32.add (local.get $a) (i32.const 16)))
 *         (local.set $b (i32.add (local.get $b) (i32.const 16)))
 *         (br $step)))
 *     (i32.add
 *       (i32.add (i32x4.extract_lane 0 (local.get $acc)) (i32x4.extract_lane 1 (local.get $acc)))
 *       (i32.add (i32x4.extract_lane 2 (local.get $acc)) (i32x4.extract_lane 3 (local.get $acc))))))
 */
const DOT8_WASM =
  'AGFzbQEAAAABCAFgA39/fwF/Ag8BA2VudgZtZW1vcnkCAAEDAgEABwgBBGRvdDgAAAp5AXcDAXsBfwJ7IAAgAmohBAJAA0AgACAETw0BIAD9AAQAIQUgAf0ABAAhBiADIAX9hwEgBv2HAf26ASAF/YgBIAb9iAH9ugH9rgH9rgEhAyAAQRBqIQAgAUEQaiEBDAALCyAD/RsAIAP9GwFqIAP9GwIgA/0bA2pqCw==';

// The few WebAssembly declarations used (the project's lib, ES2022 without DOM, has none).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  validate(bytes: Uint8Array): boolean;
}
const wasmApi = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;

let dotModule: object | null | undefined;
function wasmModule(): object | null {
  if (dotModule === undefined) {
    try {
      const bytes = Buffer.from(DOT8_WASM, 'base64');
      dotModule = wasmApi && wasmApi.validate(bytes) ? new wasmApi.Module(bytes) : null;
    } catch {
      dotModule = null;
    }
  }
  return dotModule;
}

const PAGE = 65_536;
/** Similarity the int8 rounding may move a score by, and more (~1e-3 typical): a margin for bounds on scores. */
const DUP_SLACK = 0.01;
const MAX_BYTES = 4 * 1024 ** 3 - PAGE;

/**
 * Rows quantized to int8 with a scale each (x ~ q x scale, scale = max |x| / 127), padded to a multiple of 16
 * bytes, in WebAssembly memory (or a plain buffer without SIMD): the query's slot first, then the rows.
 */
export class QuantRows implements RowSource {
  readonly dims: number;
  /** Bytes a row, padded. */
  readonly stride: number;
  private memory: WasmMemory | null = null;
  private bytes8 = new Int8Array(0);
  private scales = new Float64Array(0);
  private readonly wdot: ((a: number, b: number, n: number) => number) | null = null;
  private cap = 0;

  constructor(dims: number, capacity: number, useWasm = true) {
    this.dims = dims;
    this.stride = Math.ceil(dims / 16) * 16;
    const mod = useWasm ? wasmModule() : null;
    const cap = Math.max(1, capacity);
    if (mod && wasmApi) {
      this.memory = new wasmApi.Memory({ initial: Math.ceil(this.bytesFor(cap) / PAGE) });
      const inst = new wasmApi.Instance(mod, { env: { memory: this.memory } });
      this.wdot = inst.exports.dot8 as (a: number, b: number, n: number) => number;
    }
    this.reserve(cap);
  }

  /** Whether the SIMD module scores the rows (else plain JS, same numbers). */
  get simd(): boolean {
    return this.wdot !== null;
  }

  get capacity(): number {
    return this.cap;
  }

  /** Bytes held (rows and scales). */
  get byteLength(): number {
    return this.bytes8.byteLength + this.scales.byteLength;
  }

  private bytesFor(rows: number): number {
    const b = (rows + 1) * this.stride;
    if (b > MAX_BYTES) throw new Error(`QuantRows: ${rows} rows of ${this.dims} dimensions pass 4 GiB`);
    return b;
  }

  /** Room for `capacity` rows; the rows stay. */
  reserve(capacity: number): void {
    if (capacity <= this.cap) return;
    const bytes = this.bytesFor(capacity);
    if (this.memory) {
      const pages = Math.ceil(bytes / PAGE) - this.memory.buffer.byteLength / PAGE;
      if (pages > 0) this.memory.grow(pages);
      this.bytes8 = new Int8Array(this.memory.buffer, 0, bytes);
    } else {
      const b = new Int8Array(bytes);
      b.set(this.bytes8);
      this.bytes8 = b;
    }
    const sc = new Float64Array(capacity + 1);
    sc.set(this.scales);
    this.scales = sc;
    this.cap = capacity;
  }

  /** Quantizes `src[off .. off + dims)` into row r (r = -1: the query's slot). */
  set(r: number, src: Float32Array, off = 0): void {
    if (r >= this.cap) this.reserve(Math.max(r + 1, this.cap * 2));
    const d = this.dims;
    // No Math.* in these loops: arithmetic only (cheaper, and much cheaper inside a vm context such as Jest's).
    let max = 0;
    for (let i = 0; i < d; i++) {
      const x = src[off + i] as number;
      const a = x < 0 ? -x : x;
      if (a > max) max = a;
    }
    const inv = max > 0 ? 127 / max : 0;
    const base = (r + 1) * this.stride;
    const q = this.bytes8;
    for (let i = 0; i < d; i++) {
      const x = (src[off + i] as number) * inv;
      q[base + i] = x < 0 ? x - 0.5 : x + 0.5; // rounds half away from zero (the int8 store truncates)
    }
    this.scales[r + 1] = max / 127;
  }

  setQuery(query: Float32Array): void {
    this.set(-1, query);
  }

  dot(a: number, b: number): number {
    const sa = this.scales[a + 1] as number;
    const sb = this.scales[b + 1] as number;
    const oa = (a + 1) * this.stride;
    const ob = (b + 1) * this.stride;
    // Offsets past 2 GiB reach WebAssembly as negative int32s, which it reads as the same unsigned address.
    const w = this.wdot;
    return (w ? w(oa, ob, this.stride) : dot8(this.bytes8, oa, ob, this.stride)) * sa * sb;
  }
}

/** The same integer sum in JS. */
function dot8(x: Int8Array, a: number, b: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  for (let i = 0; i < n; i += 2) {
    s0 += (x[a + i] as number) * (x[b + i] as number);
    s1 += (x[a + i + 1] as number) * (x[b + i + 1] as number);
  }
  return s0 + s1;
}

export interface HnswOptions {
  /** Links per node on the upper layers; layer 0 keeps 2M. */
  M: number;
  /** Candidate list size while inserting: higher builds a better graph, slower. */
  efConstruction: number;
  /** Default candidate list size of a search (the rows it returns). */
  efSearch: number;
  /** Seed of the level generator. */
  seed: number;
  /**
   * A row whose nearest node is at least this similar joins that node as a duplicate instead of getting links:
   * a search that finds the node scores its duplicates too. Without it, many near-identical rows (the same
   * question in several entries) crowd the beam and the heuristic (each hides the others), and recall falls
   * (0.96 at 10k rows of 5 near-copies each, ef 96, against 1.0 for distinct rows). Above 1: off.
   */
  dedupe: number;
}

/**
 * M 16 and efConstruction 100: the usual middle of the paper's range for ~384 dimensions. efSearch 128: at 100k
 * clustered rows, ef 96 still missed the nearest entry of ~3% of questions inside a topic but near no entry,
 * 128 none (test/semantic-index.test.ts's data, scaled up); the search stays under ~1 ms there. dedupe 0.98:
 * well above paraphrases of one question (~0.7-0.9 with MiniLM), at the same text with a typo or a comma more.
 */
export const DEFAULT_HNSW: HnswOptions = { M: 16, efConstruction: 100, efSearch: 128, seed: 0x5eed, dedupe: 0.98 };

/** A search's result: rows and their similarities, best first (views valid until the next call). */
export interface HnswResult {
  rows: Int32Array;
  sims: Float64Array;
  count: number;
}

export class Hnsw {
  readonly M: number;
  readonly M0: number;
  readonly efConstruction: number;
  efSearch: number;
  private readonly src: RowSource;
  private readonly rand: () => number;
  private readonly mL: number;
  private capacity = 0;
  private n = 0;
  private entry = -1;
  private maxLevel = -1;
  private levels = new Uint8Array(0);
  /** Layer 0: per node (M0 + 1) ints: the count, then the links. */
  private links0 = new Int32Array(0);
  /** Layers >= 1: per node with level L >= 1, L blocks of (M + 1) ints from upperOff[node]. */
  private upperOff = new Int32Array(0);
  private upper = new Int32Array(0);
  private upperUsed = 0;
  /** Duplicates: dupHead[node] is its first duplicate row, dupNext[row] the next (-1: none). */
  private dupHead = new Int32Array(0);
  private dupNext = new Int32Array(0);
  /** Per node, the least similarity of one of its duplicates to it (1: none). */
  private dupMin = new Float32Array(0);
  private dups = 0;
  private readonly dedupe: number;
  // Scratch, reused: once grown, a search allocates nothing but its result's views.
  private visited = new Uint32Array(0);
  private visitTag = 0;
  private readonly cand = new MinHeap(64);
  private readonly found = new MinHeap(64);
  private outRows = new Int32Array(64);
  private outSims = new Float64Array(64);
  private selRows = new Int32Array(64);
  private selSims = new Float64Array(64);
  private pruneRows = new Int32Array(64);
  private pruneSims = new Float64Array(64);
  private lastSim = 0;

  constructor(src: RowSource, options: Partial<HnswOptions> = {}) {
    const o = { ...DEFAULT_HNSW, ...options };
    if (!(o.M >= 2) || !(o.efConstruction >= 1) || !(o.efSearch >= 1)) throw new Error('Hnsw needs M >= 2, efConstruction >= 1 and efSearch >= 1');
    this.src = src;
    this.M = Math.floor(o.M);
    this.M0 = 2 * this.M;
    this.efConstruction = Math.max(Math.floor(o.efConstruction), this.M);
    this.efSearch = Math.floor(o.efSearch);
    this.mL = 1 / Math.log(this.M);
    this.rand = seededRandom(o.seed);
    this.dedupe = o.dedupe;
  }

  /** Rows inserted so far (rows 0 .. size-1 of the source). */
  get size(): number {
    return this.n;
  }

  /** Bytes held by the graph (links, levels and scratch), not counting the rows. */
  get bytes(): number {
    return this.links0.byteLength + this.upper.byteLength + this.upperOff.byteLength + this.levels.byteLength + this.visited.byteLength + this.dupHead.byteLength + this.dupNext.byteLength + this.dupMin.byteLength;
  }

  /** Rows inserted as duplicates of a node (no links of their own). */
  get duplicates(): number {
    return this.dups;
  }

  /** Room for this many rows without growing again (optional: inserting grows by doubling). */
  reserve(rows: number): void {
    this.grow(rows, true);
  }

  /**
   * Inserts the next row of the source (row `size`): as a node with links, or, when its nearest node is at least
   * `dedupe` similar, as a duplicate of that node (see HnswOptions.dedupe). Returns the row.
   */
  insertNext(): number {
    const q = this.n;
    this.grow(q + 1);
    // Drawn for every row, duplicates too, so a row's level does not depend on which rows were duplicates.
    const level = Math.min(255, Math.floor(-Math.log(1 - this.rand()) * this.mL));
    this.n = q + 1;
    this.dupHead[q] = -1;
    this.dupNext[q] = -1;
    this.dupMin[q] = 1;
    this.links0[q * (this.M0 + 1)] = 0;
    this.levels[q] = 0;
    this.upperOff[q] = -1;
    if (this.entry < 0) {
      this.makeNode(q, level);
      this.entry = q;
      this.maxLevel = level;
      return q;
    }
    // Down to layer 0 greedily, then the beam there: its best is the duplicate test, and for a node of level 0
    // (most of them: 1 - 1/M) the beam is also the one its links are chosen from.
    let ep = this.entry;
    let epSim = this.src.dot(ep, q);
    for (let l = this.maxLevel; l > 0; l--) {
      ep = this.greedy(q, ep, epSim, l);
      epSim = this.lastSim;
    }
    let count = this.searchLayer(q, ep, epSim, this.efConstruction, 0);
    const near = this.outRows[0] as number;
    const nearSim = this.outSims[0] as number;
    if (nearSim >= this.dedupe) {
      if (nearSim < (this.dupMin[near] as number)) this.dupMin[near] = nearSim;
      this.dupNext[q] = this.dupHead[near] as number;
      this.dupHead[near] = q;
      this.dups += 1;
      return q;
    }
    this.makeNode(q, level);
    if (level > 0) {
      // Upper layers, as in the paper: greedy down to the node's top layer, a beam on each layer from there.
      ep = this.entry;
      epSim = this.src.dot(ep, q);
      for (let l = this.maxLevel; l > level; l--) {
        ep = this.greedy(q, ep, epSim, l);
        epSim = this.lastSim;
      }
      for (let l = Math.min(level, this.maxLevel); l >= 1; l--) {
        const c = this.searchLayer(q, ep, epSim, this.efConstruction, l);
        ep = this.outRows[0] as number;
        epSim = this.outSims[0] as number;
        this.link(q, c, l);
      }
      count = this.searchLayer(q, ep, epSim, this.efConstruction, 0);
    }
    this.link(q, count, 0);
    if (level > this.maxLevel) {
      this.maxLevel = level;
      this.entry = q;
    }
    return q;
  }

  /**
   * The best rows found for the query, best first: a beam of `ef` nodes on layer 0 (ef defaults to efSearch),
   * each node's duplicates scored too, and the best `rows` of all those kept (default ef). Views into scratch
   * arrays: read them before the next call.
   */
  search(query: Float32Array, ef = this.efSearch, rows = ef): HnswResult {
    if (query.length !== this.src.dims) throw new Error(`query has ${query.length} dimensions, the graph ${this.src.dims}`);
    if (this.entry < 0) return { rows: this.outRows.subarray(0, 0), sims: this.outSims.subarray(0, 0), count: 0 };
    this.src.setQuery(query);
    let ep = this.entry;
    let epSim = this.src.dot(ep, -1);
    for (let l = this.maxLevel; l > 0; l--) {
      ep = this.greedy(-1, ep, epSim, l);
      epSim = this.lastSim;
    }
    let count = this.searchLayer(-1, ep, epSim, Math.max(1, Math.floor(ef)), 0);
    const want = Math.max(1, Math.floor(rows));
    if (this.dups > 0) {
      // The nodes and their duplicates, the best `want` of them (found: a min-heap of the best so far).
      const found = this.found;
      found.clear();
      const keep = (row: number, s: number) => {
        if (found.size < want) found.push(s, row);
        else if (s > found.peekKey()) {
          found.pop();
          found.push(s, row);
        }
      };
      for (let i = 0; i < count; i++) {
        const node = this.outRows[i] as number;
        const s = this.outSims[i] as number;
        keep(node, s);
        const first = this.dupHead[node] as number;
        if (first < 0) continue;
        // A duplicate is at most angle(node, dup) nearer to the query than its node: on unit vectors its
        // similarity is at most s c + sqrt(1 - c^2) sqrt(1 - s^2), c the least similarity of a duplicate to the
        // node (less a margin for the int8 rounding). Skip the duplicates when even that cannot make the list.
        if (found.size >= want) {
          const c = Math.min(1, (this.dupMin[node] as number) - DUP_SLACK);
          const bound = s * c + Math.sqrt(Math.max(0, 1 - c * c)) * Math.sqrt(Math.max(0, 1 - s * s)) + DUP_SLACK;
          if (bound <= found.peekKey()) continue;
        }
        for (let d = first; d >= 0; d = this.dupNext[d] as number) keep(d, this.src.dot(d, -1));
      }
      count = this.drain(found);
    }
    count = Math.min(count, want);
    return { rows: this.outRows.subarray(0, count), sims: this.outSims.subarray(0, count), count };
  }

  /** Gives node q (not yet linked) its blocks on layers 1..level. */
  private makeNode(q: number, level: number): void {
    this.levels[q] = level;
    if (level === 0) return;
    const need = this.upperUsed + level * (this.M + 1);
    if (need > this.upper.length) {
      const u = new Int32Array(Math.max(need, this.upper.length * 2, 1024));
      u.set(this.upper.subarray(0, this.upperUsed));
      this.upper = u;
    }
    this.upperOff[q] = this.upperUsed;
    this.upper.fill(0, this.upperUsed, need);
    this.upperUsed = need;
  }

  /** Links node q on a layer to the heuristic's choice among the `count` candidates in outRows, and back. */
  private link(q: number, count: number, level: number): void {
    const kept = this.selectNeighbours(this.outRows, this.outSims, count, this.M);
    const base = this.linkBase(q, level);
    const links = level === 0 ? this.links0 : this.upper;
    links[base] = kept;
    for (let i = 0; i < kept; i++) links[base + 1 + i] = this.selRows[i] as number;
    // Copied: connecting back may call selectNeighbours again, which reuses selRows.
    const mine = this.selRows.slice(0, kept);
    const mineSims = this.selSims.slice(0, kept);
    for (let i = 0; i < kept; i++) this.connect(mine[i] as number, q, mineSims[i] as number, level);
  }

  // ---- internals ----------------------------------------------------------------------------------------

  private linkBase(node: number, level: number): number {
    return level === 0 ? node * (this.M0 + 1) : (this.upperOff[node] as number) + (level - 1) * (this.M + 1);
  }

  /** Greedy walk on one layer from ep toward row q (-1: the query); returns the local best (its similarity in lastSim). */
  private greedy(q: number, ep: number, epSim: number, level: number): number {
    const links = level === 0 ? this.links0 : this.upper;
    const src = this.src;
    let cur = ep;
    let best = epSim;
    let changed = true;
    while (changed) {
      changed = false;
      const base = this.linkBase(cur, level);
      const cnt = links[base] as number;
      for (let i = 1; i <= cnt; i++) {
        const nb = links[base + i] as number;
        const s = src.dot(nb, q);
        if (s > best) {
          best = s;
          cur = nb;
          changed = true;
        }
      }
    }
    this.lastSim = best;
    return cur;
  }

  /** Empties a min-heap of (similarity, row) into outRows/outSims, best first; returns how many. */
  private drain(found: typeof this.found): number {
    const count = found.size;
    if (this.outRows.length < count) {
      this.outRows = new Int32Array(count * 2);
      this.outSims = new Float64Array(count * 2);
    }
    for (let i = count - 1; i >= 0; i--) {
      this.outSims[i] = found.peekKey();
      this.outRows[i] = found.pop();
    }
    return count;
  }

  /** Beam search on one layer (Algorithm 2); leaves the results best first in outRows/outSims, returns how many. */
  private searchLayer(q: number, ep: number, epSim: number, ef: number, level: number): number {
    const links = level === 0 ? this.links0 : this.upper;
    const src = this.src;
    const visited = this.visited;
    this.visitTag += 1;
    if (this.visitTag === 0xffffffff) {
      visited.fill(0);
      this.visitTag = 1;
    }
    const tag = this.visitTag;
    const cand = this.cand; // keyed by -sim: pops the best first
    const found = this.found; // keyed by sim: pops the worst first
    cand.clear();
    found.clear();
    visited[ep] = tag;
    cand.push(-epSim, ep);
    found.push(epSim, ep);
    while (cand.size > 0) {
      if (-cand.peekKey() < found.peekKey() && found.size >= ef) break;
      const c = cand.pop();
      const base = this.linkBase(c, level);
      const cnt = links[base] as number;
      for (let i = 1; i <= cnt; i++) {
        const nb = links[base + i] as number;
        if (visited[nb] === tag) continue;
        visited[nb] = tag;
        const s = src.dot(nb, q);
        if (found.size < ef || s > found.peekKey()) {
          cand.push(-s, nb);
          found.push(s, nb);
          if (found.size > ef) found.pop();
        }
      }
    }
    return this.drain(found);
  }

  /**
   * Algorithm 4's heuristic over candidates sorted best first (by similarity to the base node): keeps a candidate
   * only when it is nearer to the base than to every one kept before. Leaves them in selRows/selSims.
   */
  private selectNeighbours(rows: Int32Array, sims: Float64Array, count: number, max: number): number {
    if (this.selRows.length < max) {
      this.selRows = new Int32Array(max * 2);
      this.selSims = new Float64Array(max * 2);
    }
    const src = this.src;
    const sel = this.selRows;
    let kept = 0;
    for (let i = 0; i < count && kept < max; i++) {
      const c = rows[i] as number;
      const s = sims[i] as number;
      let good = true;
      for (let j = 0; j < kept; j++) {
        if (src.dot(c, sel[j] as number) > s) {
          good = false;
          break;
        }
      }
      if (good) {
        sel[kept] = c;
        this.selSims[kept] = s;
        kept += 1;
      }
    }
    return kept;
  }

  /** Adds the link node -> q (similarity s) on a layer, re-choosing node's links by the heuristic when full. */
  private connect(node: number, q: number, s: number, level: number): void {
    const links = level === 0 ? this.links0 : this.upper;
    const max = level === 0 ? this.M0 : this.M;
    const base = this.linkBase(node, level);
    const cnt = links[base] as number;
    if (cnt < max) {
      links[base + 1 + cnt] = q;
      links[base] = cnt + 1;
      return;
    }
    // Full: the candidates are the current links and q, scored from node and sorted best first.
    if (this.pruneRows.length < max + 1) {
      this.pruneRows = new Int32Array(max + 1);
      this.pruneSims = new Float64Array(max + 1);
    }
    const pr = this.pruneRows;
    const ps = this.pruneSims;
    let m = 0;
    for (let i = 0; i <= cnt; i++) {
      const row = i < cnt ? (links[base + 1 + i] as number) : q;
      const sim = i < cnt ? this.src.dot(node, row) : s;
      let j = m;
      while (j > 0 && (ps[j - 1] as number) < sim) {
        ps[j] = ps[j - 1] as number;
        pr[j] = pr[j - 1] as number;
        j--;
      }
      ps[j] = sim;
      pr[j] = row;
      m += 1;
    }
    const kept = this.selectNeighbours(pr, ps, m, max);
    links[base] = kept;
    for (let i = 0; i < kept; i++) links[base + 1 + i] = this.selRows[i] as number;
  }

  private grow(rows: number, exact = false): void {
    if (rows <= this.capacity) return;
    const cap = exact ? rows : Math.max(rows, this.capacity * 2, 1024);
    const lv = new Uint8Array(cap);
    lv.set(this.levels.subarray(0, this.n));
    const l0 = new Int32Array(cap * (this.M0 + 1));
    l0.set(this.links0.subarray(0, this.n * (this.M0 + 1)));
    const uo = new Int32Array(cap);
    uo.set(this.upperOff.subarray(0, this.n));
    const dh = new Int32Array(cap);
    dh.set(this.dupHead.subarray(0, this.n));
    const dn = new Int32Array(cap);
    dn.set(this.dupNext.subarray(0, this.n));
    const dm = new Float32Array(cap);
    dm.set(this.dupMin.subarray(0, this.n));
    this.dupHead = dh;
    this.dupNext = dn;
    this.dupMin = dm;
    this.levels = lv;
    this.links0 = l0;
    this.upperOff = uo;
    this.visited = new Uint32Array(cap);
    this.visitTag = 0;
    this.capacity = cap;
  }
}

/** A binary min-heap of (key, value) pairs in typed arrays. */
class MinHeap {
  private keys: Float64Array;
  private vals: Int32Array;
  size = 0;

  constructor(capacity: number) {
    this.keys = new Float64Array(capacity);
    this.vals = new Int32Array(capacity);
  }

  clear(): void {
    this.size = 0;
  }

  peekKey(): number {
    return this.keys[0] as number;
  }

  push(key: number, val: number): void {
    if (this.size === this.keys.length) {
      const k = new Float64Array(this.size * 2);
      k.set(this.keys);
      const v = new Int32Array(this.size * 2);
      v.set(this.vals);
      this.keys = k;
      this.vals = v;
    }
    const keys = this.keys;
    const vals = this.vals;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pk = keys[p] as number;
      if (pk <= key) break;
      keys[i] = pk;
      vals[i] = vals[p] as number;
      i = p;
    }
    keys[i] = key;
    vals[i] = val;
  }

  /** Removes the smallest; returns its value. */
  pop(): number {
    const keys = this.keys;
    const vals = this.vals;
    const top = vals[0] as number;
    const n = --this.size;
    if (n > 0) {
      const key = keys[n] as number;
      const val = vals[n] as number;
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && (keys[c + 1] as number) < (keys[c] as number)) c += 1;
        if ((keys[c] as number) >= key) break;
        keys[i] = keys[c] as number;
        vals[i] = vals[c] as number;
        i = c;
      }
      keys[i] = key;
      vals[i] = val;
    }
    return top;
  }
}
