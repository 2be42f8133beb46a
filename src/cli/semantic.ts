/**
 * `kvcache calibrate` and `kvcache review`: the paraphrase layer's admin commands, thin over src/semantic.
 */
import fs from 'node:fs';
import type { Command, Option } from 'commander';
import type { App } from '../app';
import { checkTenant } from '../core/keys';
import { FaqValidationError, KvcacheError, type FaqProblem } from '../errors';
import { fitThresholds } from '../semantic/calibrate';
import type { SemanticLayer } from '../semantic/layer';
import { writeLine } from './output';

/** How a command opens the core (main.ts's withApp), handed to the command groups. */
export type WithApp = <T>(fn: (app: App) => Promise<T>, opts?: { withModel?: boolean; withEmbedder?: boolean }) => Promise<T>;

const out = process.stdout;

/** Reads `{"question": …, "entryId": …}` lines; every bad line is reported with its number, and none is used. */
export function readLabelled(file: string, known: Set<string>): Array<{ question: string; label: string | null }> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new KvcacheError('CALIBRATION_INVALID', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; give a JSON-lines file of {"question": …, "entryId": …}`);
  }
  const problems: FaqProblem[] = [];
  const rows: Array<{ question: string; label: string | null }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let obj: { question?: unknown; entryId?: unknown };
    try {
      obj = JSON.parse(raw) as typeof obj;
    } catch (err) {
      problems.push({ file, line, field: '', message: `not valid JSON (${(err as Error).message})` });
      return;
    }
    if (typeof obj.question !== 'string' || obj.question.trim() === '') {
      problems.push({ file, line, field: 'question', message: 'must be a non-empty string' });
      return;
    }
    if (obj.entryId !== null && typeof obj.entryId !== 'string') {
      problems.push({ file, line, field: 'entryId', message: 'must be an FAQ entry id, or null for a question the FAQ must not answer' });
      return;
    }
    if (typeof obj.entryId === 'string' && !known.has(obj.entryId)) {
      problems.push({ file, line, field: 'entryId', message: `"${obj.entryId}" is not an FAQ entry of this team; preload the FAQ first or fix the id` });
      return;
    }
    rows.push({ question: obj.question, label: obj.entryId });
  });
  if (problems.length > 0) throw new FaqValidationError(problems);
  if (rows.length === 0) throw new KvcacheError('CALIBRATION_INVALID', `${file} has no labelled questions; write one {"question": …, "entryId": …} a line`);
  return rows;
}

function needSemantic(app: App): SemanticLayer {
  if (!app.semantic) {
    throw new KvcacheError('USAGE', 'the paraphrase layer is off (KVCACHE_EMBED_MODEL=none); set KVCACHE_EMBED_MODEL to an embedding model folder, e.g. all-MiniLM-L6-v2');
  }
  return app.semantic;
}

export function addSemanticCommands(program: Command, team: () => Option, withApp: WithApp): void {
  program
    .command('calibrate')
    .description('fit the paraphrase thresholds of a team on labelled questions (JSON lines {"question", "entryId"})')
    .argument('[file]', 'labelled questions; entryId null marks a question that must not hit')
    .option('--faq', "also learn from the FAQ's own phrasings, each left out in turn (optimistic: see the README)")
    .option('--target <rate>', 'highest acceptable false-hit rate (of hits, and of out-of-scope questions)', '0.005')
    .option('--confidence <level>', 'how sure the bound must be: the bar is certified with this confidence (0.5 to 0.999)', '0.9')
    .option('--dry-run', 'fit and print; write nothing')
    .option('--json', 'print the result as JSON')
    .addOption(team())
    .action(async (file: string | undefined, o: { target: string; confidence: string; faq?: boolean; dryRun?: boolean; json?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      if (file === undefined && !o.faq) throw new KvcacheError('USAGE', 'calibrate needs a file of labelled questions, or --faq to learn from the FAQ itself (or both)');
      const source = file ?? 'the FAQ';
      const target = Number(o.target);
      if (!(target > 0 && target < 1)) throw new KvcacheError('USAGE', `--target ${o.target} is not a rate between 0 and 1 (e.g. 0.005)`);
      const level = Number(o.confidence);
      if (!(level >= 0.5 && level <= 0.999)) throw new KvcacheError('USAGE', `--confidence ${o.confidence} is not a level from 0.5 to 0.999 (e.g. 0.9)`);
      await withApp(async (app) => {
        const layer = needSemantic(app);
        await layer.sync(tenant);
        const built = await layer.indexFor(tenant);
        const ids = new Set<string>();
        for await (const e of app.cache.entries(tenant, 'faq')) ids.add(e.id);
        if (ids.size === 0) throw new KvcacheError('NOT_FOUND', `team "${tenant}" has no FAQ entries; preload its FAQ before calibrating`);
        const all = file === undefined ? [] : readLabelled(file, ids);
        const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(2)}%`);
        const summaries: Array<Record<string, unknown>> = [];
        // Each lane (English, CJK) is calibrated on the questions of its own script, with its own model.
        for (const lane of layer.lanes) {
          const rows = all.filter((r) => lane.spec.accepts(r.question));
          const own = o.faq ? await lane.faqSamples(tenant) : [];
          if (rows.length === 0 && own.length === 0) continue;
          if (lane === layer.lanes[0] && built.index.size === 0) continue;
          const samples = [...own, ...(await lane.samplesFor(tenant, rows, (n) => process.stderr.write(`kvcache: embedded ${n} of ${rows.length} questions\n`)))];
          let fit;
          try {
            fit = fitThresholds(samples, { target, delta: 1 - level });
          } catch (err) {
            if (lane === layer.lanes[0]) throw new KvcacheError('CALIBRATION_INVALID', `${source}: ${(err as Error).message}`);
            // A handful of questions in another script must not stop the calibration of the rest: that lane keeps its bar.
            summaries.push({ lane: lane.spec.name, model: lane.model, samples: samples.length, skipped: (err as Error).message });
            if (!o.json) await writeLine(out, `warning: the ${samples.length} ${lane.spec.name} questions were not used (${(err as Error).message}); that lane keeps its thresholds`);
            continue;
          }
          const thresholds = { ...fit.thresholds, model: lane.model, calibratedAt: app.clock.now() };
          if (!o.dryRun) await lane.saveThresholds(tenant, thresholds);
          const summary = {
            lane: lane.spec.name,
            model: lane.model,
            samples: samples.length,
            outOfScope: rows.filter((r) => r.label === null).length,
            faqPhrasings: own.length,
            minConfidence: thresholds.minConfidence,
            uncalibratedConfidence: thresholds.uncalibratedConfidence,
            weights: thresholds.weights,
            adjustedEntries: Object.keys(thresholds.perEntry).length,
            calibratedEntries: thresholds.calibrated.length,
            heldOut: { hitRate: fit.hitRate, falseHitRate: fit.falseHitRate, oosHitRate: fit.oosHitRate },
            metTarget: fit.metTarget,
            bound: { target, confidence: level, certified: fit.bound.certified, hits: fit.bound.hits, wrong: fit.bound.wrong, wrongShareUpper: fit.bound.wrongShareUpper },
          };
          summaries.push(summary);
          if (o.json) continue;
          const head = `${o.dryRun ? 'dry run: would calibrate' : 'calibrated'} team "${tenant}"${layer.lanes.length > 1 ? ` (${lane.spec.name} questions, ${lane.model})` : ''}`;
          await writeLine(out, `${head} on ${samples.length} questions (${summary.outOfScope} out of scope)`);
          await writeLine(out, `  confidence bar ${thresholds.minConfidence} (${summary.calibratedEntries} entries calibrated, ${summary.adjustedEntries} with their own offset; others ${thresholds.uncalibratedConfidence})`);
          await writeLine(out, `  on held-out questions: hit rate ${pct(fit.hitRate)}, false hits ${pct(fit.falseHitRate)} of hits, out-of-scope hits ${pct(fit.oosHitRate)}`);
          if (fit.metTarget) {
            await writeLine(out, `  bound: at most ${pct(target)} of semantic hits wrong, with ${pct(level)} confidence (certified on ${fit.bound.hits} hits, ${fit.bound.wrong} wrong; upper limit ${pct(fit.bound.wrongShareUpper)})`);
          } else {
            await writeLine(out, `  warning: no bar could be certified at ${pct(target)} with ${pct(level)} confidence (${samples.length} questions are too few, or too many look alike); the strictest was used. Add labelled questions or alternates.`);
          }
        }
        if (summaries.length === 0) throw new KvcacheError('CALIBRATION_INVALID', `${source}: no question in it can be read by a paraphrase model (set KVCACHE_EMBED_MODEL_CJK for Chinese, Japanese and Korean)`);
        if (o.json) {
          // The first lane's figures at the top level, as before lanes existed; every lane under `lanes`.
          await writeLine(out, JSON.stringify({ team: tenant, ...summaries[0], lanes: summaries, written: !o.dryRun }));
        }
      }, { withEmbedder: true });
    });

  program
    .command('review')
    .description('list phrasings users chose from "did you mean"; accept them as alternates or reject them')
    .option('--accept <n>', 'add candidate n to its entry as an alternate')
    .option('--reject <n>', 'drop candidate n')
    .option('--json', 'print the candidates as JSON')
    .addOption(team())
    .action(async (o: { accept?: string; reject?: string; json?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      if (o.accept !== undefined && o.reject !== undefined) throw new KvcacheError('USAGE', 'review takes --accept or --reject, not both');
      const num = (v: string, flag: string) => {
        if (!/^\d+$/.test(v) || Number(v) < 1) throw new KvcacheError('USAGE', `${flag} ${v}: give a candidate number from \`kvcache review\``);
        return Number(v);
      };
      await withApp(async (app) => {
        if (o.accept !== undefined) {
          const r = await app.review.accept(tenant, num(o.accept, '--accept'));
          await writeLine(out, `accepted: "${r.candidate.question}" is now an alternate of entry "${r.entry.id}" (fold it into your FAQ file; \`kvcache export\` prints it)`);
          return;
        }
        if (o.reject !== undefined) {
          const c = await app.review.reject(tenant, num(o.reject, '--reject'));
          await writeLine(out, `rejected: "${c.question}" (entry "${c.entryId}")`);
          return;
        }
        const list = await app.review.list(tenant);
        if (o.json) {
          await writeLine(out, JSON.stringify(list));
          return;
        }
        if (list.length === 0) await writeLine(out, `no candidates waiting for team "${tenant}"`);
        for (const [i, c] of list.entries()) await writeLine(out, `${String(i + 1).padStart(3)}. "${c.question}" -> ${c.entryId} (chosen ${c.count}x)`);
      }, { withEmbedder: o.accept !== undefined });
    });
}
