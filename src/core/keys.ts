/**
 * Store key layout, schema version 1. Every key starts with the schema version so a future change of layout
 * or hashing cannot read old keys by mistake, then a record type, then the tenant (the Slack team id, or
 * `default` for the CLI), so tenants never see each other's answers. Question keys are hashed: fixed length,
 * no user text in key space, and no glob characters for Redis SCAN.
 *
 *   kv1:x:<tenant>:<sha256(exact form)>       -> Pointer     exact key
 *   kv1:n:<tenant>:<sha256(normalized form)>  -> Pointer     normalized key
 *   kv1:f:<tenant>:<id>                       -> CacheEntry  pinned FAQ entry
 *   kv1:d:<tenant>:<id>                       -> CacheEntry  generated or manual entry (TTL, LRU-bounded)
 *   kv1:s:<tenant>                            -> StatsDoc    (memory, SQLite; on Redis, read-only history)
 *   kv1:s:<tenant>:{n,q,qm,u,f}               -> Redis hash, sorted set, hash, list, list: statistics on Redis
 *   kv1:m:<tenant>                            -> FaqMeta     (does this tenant have its own FAQ?)
 *   kv1:j:<tenant>                            -> preload journal (only for stores without atomic batches)
 *   kv1:e:<tenant>:<id>                       -> VectorRecord  embeddings of an FAQ entry's phrasings
 *   kv1:t:<tenant>                            -> Thresholds    the paraphrase layer's calibration
 *   kv1:z:<tenant>:<id>                       -> VectorRecord  the CJK lane's embeddings of an entry's CJK phrasings
 *   kv1:y:<tenant>                            -> Thresholds    the CJK lane's calibration
 *   kv1:r:<tenant>                            -> ReviewDoc     "did you mean" choices waiting for review
 *   kv1:l:<name>                              -> lease token   cross-process locks and one-time claims
 *   kv1:p:<tenant>:<sha256(channel:ts)>       -> reply ts      the bot's reply to a Slack message (1 day), for edits
 *   kv1:h:<tenant>:<sha256(normalized)>       -> Handoff       a question handed to the support team (src/handoff/)
 *   kv1:hn:<tenant>:<number>                  -> handoff key   hand-off #N, for `kvcache answer N`
 *   kv1:hc:<tenant>                           -> { next }      the tenant's hand-off numbers
 *   kv1:hp:<tenant>:<sha256(channel:ts)>      -> handoff key   the hand-off a support-channel post belongs to
 *   kv1:hr:<tenant>:<handoff key>             -> marker        answered or dismissed, askers not yet told
 *   kv1:he:<tenant>:<sha256(channel:ts)>      -> edited reply  an edited thread reply waiting for its author's confirmation
 */
import { createHash } from 'node:crypto';
import { KvcacheError } from '../errors';

export const SCHEMA = 'kv1';
export const DEFAULT_TENANT = 'default';
const TENANT_RE = /^[A-Za-z0-9_-]{1,64}$/;

export interface Pointer {
  /** The entry's id; `pinned` tells which record type holds it. */
  id: string;
  pinned: boolean;
}

export function checkTenant(tenant: string): string {
  if (!TENANT_RE.test(tenant)) {
    throw new KvcacheError(
      'TENANT_INVALID',
      `team "${tenant}" is not a valid tenant id: use 1-64 letters, digits, "_" or "-" (a Slack team id such as T0123ABCD, or "default")`,
    );
  }
  return tenant;
}

export function hashText(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex').slice(0, 32);
}

export const keys = {
  exact: (tenant: string, exactForm: string) => `${SCHEMA}:x:${tenant}:${hashText(exactForm)}`,
  normalized: (tenant: string, normalized: string) => `${SCHEMA}:n:${tenant}:${hashText(normalized)}`,
  entry: (tenant: string, id: string, pinned: boolean) => `${SCHEMA}:${pinned ? 'f' : 'd'}:${tenant}:${id}`,
  faqPrefix: (tenant: string) => `${SCHEMA}:f:${tenant}:`,
  dynamicPrefix: (tenant?: string) => (tenant === undefined ? `${SCHEMA}:d:` : `${SCHEMA}:d:${tenant}:`),
  stats: (tenant: string) => `${SCHEMA}:s:${tenant}`,
  statsPrefix: () => `${SCHEMA}:s:`,
  /** Statistics as Redis's own types (src/store/redis-stats.ts). */
  redisStats: (tenant: string) => {
    const base = keys.stats(tenant);
    return { counters: `${base}:n`, questions: `${base}:q`, questionMeta: `${base}:qm`, unanswered: `${base}:u`, reviews: `${base}:f` };
  },
  faqMeta: (tenant: string) => `${SCHEMA}:m:${tenant}`,
  journal: (tenant: string) => `${SCHEMA}:j:${tenant}`,
  journalPrefix: () => `${SCHEMA}:j:`,
  vectors: (tenant: string, id: string) => `${SCHEMA}:e:${tenant}:${id}`,
  vectorsPrefix: (tenant?: string) => (tenant === undefined ? `${SCHEMA}:e:` : `${SCHEMA}:e:${tenant}:`),
  thresholds: (tenant: string) => `${SCHEMA}:t:${tenant}`,
  cjkVectors: (tenant: string, id: string) => `${SCHEMA}:z:${tenant}:${id}`,
  cjkVectorsPrefix: (tenant?: string) => (tenant === undefined ? `${SCHEMA}:z:` : `${SCHEMA}:z:${tenant}:`),
  cjkThresholds: (tenant: string) => `${SCHEMA}:y:${tenant}`,
  review: (tenant: string) => `${SCHEMA}:r:${tenant}`,
  lease: (name: string) => `${SCHEMA}:l:${name}`,
  reply: (tenant: string, channel: string, ts: string) => `${SCHEMA}:p:${tenant}:${hashText(`${channel}:${ts}`)}`,
  handoff: (tenant: string, key: string) => `${SCHEMA}:h:${tenant}:${key}`,
  handoffPrefix: (tenant: string) => `${SCHEMA}:h:${tenant}:`,
  handoffNumber: (tenant: string, n: number) => `${SCHEMA}:hn:${tenant}:${n}`,
  handoffCounter: (tenant: string) => `${SCHEMA}:hc:${tenant}`,
  handoffPost: (tenant: string, channel: string, ts: string) => `${SCHEMA}:hp:${tenant}:${hashText(`${channel}:${ts}`)}`,
  /** Without a tenant: every tenant's (the relay loop scans them all). */
  handoffRelay: (tenant?: string, key?: string) => (tenant === undefined ? `${SCHEMA}:hr:` : `${SCHEMA}:hr:${tenant}:${key ?? ''}`),
  handoffEdit: (tenant: string, channel: string, ts: string) => `${SCHEMA}:he:${tenant}:${hashText(`${channel}:${ts}`)}`,
};

/** Splits `kv1:d:<tenant>:<id>` back into its parts (ids may contain ':'). */
export function parseEntryKey(key: string): { tenant: string; id: string; pinned: boolean } | null {
  const m = /^kv1:([fd]):([A-Za-z0-9_-]{1,64}):(.+)$/.exec(key);
  if (!m || m[2] === undefined || m[3] === undefined) return null;
  return { pinned: m[1] === 'f', tenant: m[2], id: m[3] };
}

/** Stable id of a generated or manual entry: one per (normalized question), so repeats overwrite, not pile up. */
export function dynamicId(source: 'generated' | 'manual', normalized: string): string {
  return `${source === 'generated' ? 'g' : 'm'}-${hashText(normalized).slice(0, 16)}`;
}
