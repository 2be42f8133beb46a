/**
 * FAQ preload: validate the whole file set against itself and the store, compute a plan (added, changed,
 * unchanged, removed), then write it in one batch. Nothing is written when any problem is found. On stores
 * without transactions the batch goes through a journal that the next open rolls forward, so a process killed
 * mid-preload never leaves a half-loaded FAQ.
 */
import { randomUUID } from 'node:crypto';
import { FaqValidationError, type FaqProblem } from '../errors';
import { exactForm, normalizeQuestion } from '../core/normalize';
import { entryKey, phrasingKeys, pointerKeysOf } from '../core/cache';
import { hashText, keys, type Pointer } from '../core/keys';
import type { CacheEntry, Clock } from '../core/types';
import type { KvStore, StoreOp } from '../store/types';
import type { FaqRecord } from './parse';

export interface PreloadOptions {
  tenant: string;
  prune: boolean;
  dryRun: boolean;
  /** Also delete the support team's answers (`team` entries); never done otherwise. */
  pruneTeam?: boolean;
}

export interface PreloadPlan {
  tenant: string;
  added: string[];
  changed: string[];
  unchanged: string[];
  removed: string[];
  /** Generated or manual entries whose question the FAQ now answers. */
  overridden: string[];
  /** Generated answers built from FAQ entries that changed or were removed. */
  invalidated: string[];
  /** FAQ entries in the store but not in the files, kept because --prune was not given. */
  kept: string[];
  /** Team answers deleted: their question is now in the files, their linked entry left, or --prune-team. */
  teamRemoved: string[];
  /** Team answers linked to an FAQ entry whose answer changed: their copy follows it. */
  teamRefreshed: string[];
  /** Keys of unchanged entries that were missing or pointed elsewhere, written again. */
  repairedPointers: number;
  ops: StoreOp[];
}

interface Journal {
  at: number;
  ops: StoreOp[];
}

/** Per tenant: how many FAQ entries it has, and a revision that changes with every change to them. */
export interface FaqMeta {
  count: number;
  updatedAt: number;
  rev: string;
}

function contentHash(r: FaqRecord): string {
  return hashText(JSON.stringify([r.question, r.alternates, r.answer, r.tags]));
}

const where = (r: FaqRecord) => `${r.file}:${r.line}`;

export async function planPreload(store: KvStore, records: FaqRecord[], opts: PreloadOptions, clock: Clock): Promise<PreloadPlan> {
  const { tenant } = opts;
  const problems: FaqProblem[] = [];
  // 1. Every phrasing's normalized form belongs to exactly one entry.
  const claims = new Map<string, { rec: FaqRecord; field: string }>();
  const wanted = new Map<string, Pointer & { q: string }>(); // pointer key -> pointer
  for (const rec of records) {
    [rec.question, ...rec.alternates].forEach((text, i) => {
      const field = i === 0 ? 'question' : `alternates[${i - 1}]`;
      const n = normalizeQuestion(text);
      if (n === '') {
        problems.push({ file: rec.file, line: rec.line, field, message: `"${text}" has no words left after normalization (only punctuation, emoji or markup); write a real question` });
        return;
      }
      const other = claims.get(n);
      if (other && other.rec.id !== rec.id) {
        problems.push({
          file: rec.file,
          line: rec.line,
          field,
          message: `"${text}" is the same question as ${other.field} of entry "${other.rec.id}" (${where(other.rec)}) once normalized; keep it in one entry only`,
        });
        return;
      }
      if (!other) claims.set(n, { rec, field });
      const pk = phrasingKeys(tenant, text);
      const ptr = { id: rec.id, pinned: true, q: exactForm(text) };
      if (!wanted.has(pk.exact)) wanted.set(pk.exact, ptr);
      if (pk.normalized && !wanted.has(pk.normalized)) wanted.set(pk.normalized, ptr);
    });
  }

  // 2. What the store holds now.
  const existing = new Map<string, CacheEntry>();
  // The support team's answers live beside the FAQ entries but are not the files' to manage (see below).
  const team = new Map<string, CacheEntry>();
  for await (const [, e] of store.scan<CacheEntry>(keys.faqPrefix(tenant))) (e.source === 'team' ? team : existing).set(e.id, e);
  const inFiles = new Set(records.map((r) => r.id));
  const leaving = opts.prune ? [...existing.keys()].filter((id) => !inFiles.has(id)) : [];
  const kept = opts.prune ? [] : [...existing.keys()].filter((id) => !inFiles.has(id)).sort();
  const keptIds = new Set(kept);

  // 3. Pointers already in the store under the keys the files want.
  const wantedKeys = [...wanted.keys()];
  const current = await store.getMany<Pointer>(wantedKeys);
  const overriddenIds = new Set<string>();
  const teamGone = new Set<string>(opts.pruneTeam ? team.keys() : []);
  const mismatched = new Map<string, Array<[string, Pointer & { q: string }]>>(); // by entry id
  wantedKeys.forEach((k, i) => {
    const p = current[i];
    const w = wanted.get(k);
    if (!w || (p && p.id === w.id && p.pinned)) return;
    const list = mismatched.get(w.id) ?? [];
    list.push([k, w]);
    mismatched.set(w.id, list);
    if (!p) return;
    if (!p.pinned) {
      overriddenIds.add(p.id);
    } else if (team.has(p.id)) {
      // The team's answer has been curated into the files: the FAQ entry takes over its question.
      teamGone.add(p.id);
    } else if (keptIds.has(p.id)) {
      const rec = records.find((r) => r.id === w.id);
      problems.push({
        file: rec?.file ?? '(files)',
        line: rec?.line ?? null,
        field: 'question',
        message: `"${w.q}" is already answered by FAQ entry "${p.id}", which is in the store but not in these files; remove it with --prune or 'kvcache forget --id ${p.id}', or rename it`,
      });
    }
  });
  if (problems.length > 0) throw new FaqValidationError(problems);

  // 4. The plan and its writes.
  const now = clock.now();
  const plan: PreloadPlan = { tenant, added: [], changed: [], unchanged: [], removed: [...leaving].sort(), overridden: [], invalidated: [], kept, teamRemoved: [], teamRefreshed: [], repairedPointers: 0, ops: [] };
  const claimedKeys = new Set(wantedKeys);
  const releasing: CacheEntry[] = []; // entries whose old pointers must go unless reclaimed
  for (const rec of records) {
    const old = existing.get(rec.id);
    const hash = contentHash(rec);
    if (old && old.contentHash === hash) {
      plan.unchanged.push(rec.id);
      for (const [k, ptr] of mismatched.get(rec.id) ?? []) {
        plan.ops.push({ op: 'set', key: k, value: ptr });
        plan.repairedPointers += 1;
      }
      continue;
    }
    (old ? plan.changed : plan.added).push(rec.id);
    if (old) releasing.push(old);
    const entry: CacheEntry = {
      id: rec.id,
      tenant,
      question: rec.question,
      answer: rec.answer,
      source: 'faq',
      alternates: rec.alternates,
      tags: rec.tags,
      createdAt: old?.createdAt ?? now,
      updatedAt: now,
      hitCount: old?.hitCount ?? 0,
      lastHitAt: old?.lastHitAt ?? null,
      expiresAt: null,
      contentHash: hash,
      origin: where(rec),
    };
    plan.ops.push({ op: 'set', key: entryKey(entry), value: entry });
    for (const text of [rec.question, ...rec.alternates]) {
      const pk = phrasingKeys(tenant, text);
      for (const k of [pk.exact, pk.normalized]) {
        const ptr = k ? wanted.get(k) : undefined;
        if (k && ptr && ptr.id === rec.id) plan.ops.push({ op: 'set', key: k, value: ptr });
      }
    }
  }
  for (const id of leaving) {
    const old = existing.get(id);
    if (!old) continue;
    releasing.push(old);
    plan.ops.push({ op: 'delete', key: entryKey(old) });
  }

  // Generated entries replaced by the FAQ, and those built from FAQ entries that changed or left.
  const touched = new Set([...plan.changed, ...plan.removed]);
  for await (const [k, e] of store.scan<CacheEntry>(keys.dynamicPrefix(tenant))) {
    const stale = e.usedEntries?.some((id) => touched.has(id)) ?? false;
    if (!overriddenIds.has(e.id) && !stale) continue;
    (overriddenIds.has(e.id) ? plan.overridden : plan.invalidated).push(e.id);
    releasing.push(e);
    plan.ops.push({ op: 'delete', key: k });
  }
  // Team answers: those whose question the files now answer (or all, with --prune-team) go; a link to an entry
  // that leaves goes with it; a link to an entry whose answer changed takes the new answer.
  const byId = new Map(records.map((r) => [r.id, r]));
  for (const e of team.values()) {
    const linked = e.linkedTo;
    if (linked !== undefined && plan.removed.includes(linked)) teamGone.add(e.id);
    if (teamGone.has(e.id)) {
      plan.teamRemoved.push(e.id);
      releasing.push(e);
      plan.ops.push({ op: 'delete', key: entryKey(e) });
      continue;
    }
    const rec = linked === undefined ? undefined : byId.get(linked);
    if (rec && plan.changed.includes(rec.id) && rec.answer !== e.answer) {
      plan.teamRefreshed.push(e.id);
      plan.ops.push({ op: 'set', key: entryKey(e), value: { ...e, answer: rec.answer, updatedAt: now } });
    }
  }
  const released = new Set<string>();
  for (const e of releasing) {
    for (const k of pointerKeysOf(e)) {
      if (!claimedKeys.has(k) && !released.has(k)) {
        released.add(k);
        plan.ops.push({ op: 'delete', key: k });
      }
    }
  }
  const count = records.length + kept.length;
  plan.ops.push({ op: 'set', key: keys.faqMeta(tenant), value: { count, updatedAt: now, rev: randomUUID() } satisfies FaqMeta });
  plan.added.sort();
  plan.changed.sort();
  plan.unchanged.sort();
  plan.overridden.sort();
  plan.invalidated.sort();
  plan.teamRemoved.sort();
  plan.teamRefreshed.sort();
  return plan;
}

/** Writes a plan. Nothing to write (an unchanged re-run) writes nothing at all. */
export async function applyPlan(store: KvStore, plan: PreloadPlan, clock: Clock): Promise<void> {
  const changes =
    plan.added.length + plan.changed.length + plan.removed.length + plan.overridden.length + plan.invalidated.length + plan.repairedPointers +
    plan.teamRemoved.length + plan.teamRefreshed.length;
  if (changes === 0) return;
  if (store.atomicApply) {
    await store.apply(plan.ops);
    return;
  }
  const jkey = keys.journal(plan.tenant);
  await store.set(jkey, { at: clock.now(), ops: plan.ops } satisfies Journal);
  await store.apply(plan.ops);
  await store.delete(jkey);
}

/** Rolls forward any preload a killed process left half-written. Returns the tenants recovered. */
export async function recoverJournals(store: KvStore): Promise<string[]> {
  const done: string[] = [];
  for await (const [k, j] of store.scan<Journal>(keys.journalPrefix())) {
    await store.apply(j.ops);
    await store.delete(k);
    done.push(k.slice(keys.journalPrefix().length));
  }
  return done;
}

export async function preload(store: KvStore, records: FaqRecord[], opts: PreloadOptions, clock: Clock): Promise<PreloadPlan> {
  const plan = await planPreload(store, records, opts, clock);
  if (!opts.dryRun) await applyPlan(store, plan, clock);
  return plan;
}
