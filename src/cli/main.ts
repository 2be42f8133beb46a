/**
 * The `kvcache` command line: a thin transport over the same core as the Slack app. Each command opens the
 * store named by KVCACHE_STORE / KVCACHE_DATA_DIR, does one thing, and closes it. Errors print one line on
 * stderr and exit non-zero (2 for usage mistakes, 1 for everything else).
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { Command, CommanderError, Option } from 'commander';
import { openApp, type App } from '../app';
import { loadConfig } from '../config';
import { FaqValidationError, KvcacheError, formatProblem } from '../errors';
import { checkTenant, DEFAULT_TENANT } from '../core/keys';
import { formatReport } from '../core/report';
import type { AnswerResult } from '../core/types';
import { runChat, describeResult } from '../console/chat';
import { loadFaqFiles } from '../faq/parse';
import { applyPlan, planPreload, type PreloadPlan } from '../faq/preload';
import { createLogger } from '../logger';
import { renderExport, type ExportFormat } from './export';
import { flushed, writeLine } from './output';
import { addSemanticCommands } from './semantic';
import { addHandoffCommands } from './handoff';

const out = process.stdout;
const LARGE_PRELOAD_OPS = 10_000;

async function withApp<T>(fn: (app: App) => Promise<T>, opts: { withModel?: boolean; withEmbedder?: boolean } = {}): Promise<T> {
  // Operator commands move thousands of keys per call: they get at least 5 s per Redis command.
  const base = loadConfig();
  const config = { ...base, storeTimeoutMs: Math.max(base.storeTimeoutMs, 5000) };
  const app = await openApp(config, {
    logger: createLogger(config.logLevel === 'info' ? 'warn' : config.logLevel),
    withModel: !!opts.withModel,
    withEmbedder: !!opts.withEmbedder,
  });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

const team = () => new Option('--team <team>', 'tenant: a Slack team id, or "default"').default(DEFAULT_TENANT);

function resultJson(r: AnswerResult): string {
  return JSON.stringify({
    question: r.question,
    answer: r.answer,
    source: r.source,
    entryId: r.entryId,
    matchedQuestion: r.matchedQuestion,
    score: r.score,
    ...(r.semantic ? { semantic: r.semantic } : {}),
    ...(r.suggestions ? { suggestions: r.suggestions } : {}),
    latencyMs: Math.round(r.latencyMs * 1000) / 1000,
  });
}

function planText(plan: PreloadPlan, dryRun: boolean): string[] {
  const head =
    `${dryRun ? 'dry run: would preload' : 'preloaded'} team "${plan.tenant}": ${plan.added.length} added, ${plan.changed.length} changed, ` +
    `${plan.unchanged.length} unchanged, ${plan.removed.length} removed` +
    (plan.overridden.length > 0 ? `, ${plan.overridden.length} cached answers replaced by the FAQ` : '') +
    (plan.invalidated.length > 0 ? `, ${plan.invalidated.length} generated answers invalidated` : '') +
    (plan.teamRemoved.length > 0 ? `, ${plan.teamRemoved.length} team answers removed` : '') +
    (plan.teamRefreshed.length > 0 ? `, ${plan.teamRefreshed.length} linked team answers updated` : '') +
    (dryRun ? ' (nothing written)' : '');
  const lines = [head];
  const list = (mark: string, ids: string[]) => {
    // A real run prints counts; a dry run lists everything it would do.
    if (dryRun) for (const id of ids) lines.push(`  ${mark} ${id}`);
  };
  list('+', plan.added);
  list('~', plan.changed);
  list('-', plan.removed);
  list('x', [...plan.overridden, ...plan.invalidated, ...plan.teamRemoved]);
  if (plan.kept.length > 0) {
    lines.push(`  ${plan.kept.length} FAQ entries in the store are not in these files and were kept (use --prune to remove): ${plan.kept.slice(0, 10).join(', ')}${plan.kept.length > 10 ? ', …' : ''}`);
  }
  return lines;
}

async function* replayLines(file: string): AsyncGenerator<{ line: number; question: string | null; error?: string }> {
  const input = file === '-' ? process.stdin : fs.createReadStream(file, { encoding: 'utf8' });
  const rl = readline.createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  for await (const raw of rl) {
    n += 1;
    const text = raw.trim();
    if (text === '') continue;
    if (!text.startsWith('{')) {
      yield { line: n, question: text };
      continue;
    }
    try {
      const obj = JSON.parse(text) as { question?: unknown };
      if (typeof obj.question !== 'string') yield { line: n, question: null, error: 'JSON line has no string field "question"' };
      else yield { line: n, question: obj.question };
    } catch (err) {
      yield { line: n, question: null, error: `not valid JSON (${(err as Error).message}); write one question a line or JSON lines with a "question" field` };
    }
  }
}

export function buildProgram(): Command {
  const program = new Command('kvcache')
    .description('kvcache-bot: answer cache for customer-service questions')
    .showHelpAfterError('(run kvcache --help for usage)')
    .exitOverride();

  program
    .command('preload')
    .description('load FAQ files (YAML, JSON, CSV, QnA Maker TSV) into the cache')
    .argument('<files...>', 'FAQ files')
    .option('--prune', 'remove FAQ entries that are no longer in the files')
    .option('--prune-team', "also remove the support team's answers (team entries; kept otherwise)")
    .option('--dry-run', 'print what would be added, changed and removed; write nothing')
    .option('--json', 'print the plan as JSON')
    .addOption(team())
    .action(async (files: string[], o: { prune?: boolean; pruneTeam?: boolean; dryRun?: boolean; json?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      const records = await loadFaqFiles(files);
      await withApp(async (app) => {
        const plan = await planPreload(app.store, records, { tenant, prune: !!o.prune, pruneTeam: !!o.pruneTeam, dryRun: !!o.dryRun }, app.clock);
        if (!o.dryRun) {
          // A big FAQ takes seconds to write: say so, so ops know it is working and not hung.
          if (plan.ops.length >= LARGE_PRELOAD_OPS) process.stderr.write(`kvcache: writing ${plan.ops.length} keys in one batch...\n`);
          await applyPlan(app.store, plan, app.clock);
          // Vectors are written now, so no lookup (and no restart) ever waits for embeddings.
          // About 5 ms a phrasing on 2 cores: a 10,000-entry FAQ takes minutes, so say how far it is.
          if (app.semantic) await app.semantic.sync(tenant, (n, total) => process.stderr.write(`kvcache: embedded ${n} of up to ${total} entries for the paraphrase layer...\n`));
        }
        if (o.json) {
          const { ops, ...rest } = plan;
          await writeLine(out, JSON.stringify({ ...rest, dryRun: !!o.dryRun, writes: ops.length }));
        } else {
          for (const l of planText(plan, !!o.dryRun)) await writeLine(out, l);
        }
      }, { withEmbedder: !o.dryRun });
    });

  program
    .command('verify')
    .description('compare FAQ files with the store; --repair restores what is missing or different (e.g. after a Redis restart without persistence)')
    .argument('<files...>', 'FAQ files')
    .option('--repair', 'write what is missing or different')
    .option('--json', 'print the comparison as JSON')
    .addOption(team())
    .action(async (files: string[], o: { repair?: boolean; json?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      const records = await loadFaqFiles(files);
      await withApp(async (app) => {
        const plan = await planPreload(app.store, records, { tenant, prune: false, dryRun: !o.repair }, app.clock);
        const drift = { missing: plan.added.length, different: plan.changed.length, pointerKeysMissing: plan.repairedPointers };
        const clean = drift.missing + drift.different + drift.pointerKeysMissing === 0;
        if (o.repair && !clean) {
          await applyPlan(app.store, plan, app.clock);
          if (app.semantic) await app.semantic.sync(tenant);
        }
        if (o.json) {
          await writeLine(out, JSON.stringify({ team: tenant, entries: records.length, ...drift, matches: clean, repaired: !!o.repair && !clean, missingIds: plan.added, differentIds: plan.changed }));
        } else if (clean) {
          await writeLine(out, `team "${tenant}": the store matches the ${records.length} FAQ entries of ${files.join(', ')}`);
        } else if (o.repair) {
          await writeLine(out, `repaired: ${drift.missing} entries restored, ${drift.different} updated, ${drift.pointerKeysMissing} pointer keys rewritten (team "${tenant}")`);
        } else {
          await writeLine(out, `team "${tenant}": ${drift.missing} missing, ${drift.different} different, ${drift.pointerKeysMissing} pointer keys missing; run again with --repair to restore them`);
          for (const id of plan.added) await writeLine(out, `  missing   ${id}`);
          for (const id of plan.changed) await writeLine(out, `  different ${id}`);
        }
        if (!clean && !o.repair) process.exitCode = 1;
      }, { withEmbedder: !!o.repair });
    });

  program
    .command('ask')
    .description('answer one question through the cache (and the model, when one is configured)')
    .argument('<question...>', 'the question (quote it, or pass the words)')
    .option('--json', 'print the result as one JSON object')
    .addOption(team())
    .action(async (words: string[], o: { json?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      await withApp(async (app) => {
        const r = await app.answerer.ask(tenant, words.join(' '));
        if (o.json) await writeLine(out, resultJson(r));
        else {
          await writeLine(out, r.answer);
          await writeLine(out, describeResult(r));
        }
      }, { withModel: true, withEmbedder: true });
    });

  program
    .command('replay')
    .description('answer every question of a file (one a line, or JSON lines with "question"); "-" reads stdin')
    .argument('<file>', 'questions file, or - for stdin')
    .option('--json', 'print one JSON result a line')
    .option('--lookup-only', 'never call the model and record nothing: the what-if hit rate')
    .addOption(team())
    .action(async (file: string, o: { json?: boolean; lookupOnly?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      if (file !== '-' && !fs.existsSync(file)) {
        throw new KvcacheError('USAGE', `cannot read ${file}: no such file; give a file of questions, or - for stdin`);
      }
      let answered = 0;
      let hits = 0;
      let skipped = 0;
      await withApp(async (app) => {
        for await (const item of replayLines(file)) {
          if (item.question === null) {
            skipped += 1;
            process.stderr.write(`kvcache: ${file}:${item.line}: ${item.error ?? 'bad line'}; skipped\n`);
            continue;
          }
          let r: AnswerResult;
          try {
            r = await app.answerer.ask(tenant, item.question, { lookupOnly: !!o.lookupOnly });
          } catch (err) {
            if (!(err instanceof KvcacheError)) throw err;
            skipped += 1;
            process.stderr.write(`kvcache: ${file}:${item.line}: ${err.message}; skipped\n`);
            continue;
          }
          answered += 1;
          if (r.source === 'exact' || r.source === 'normalized' || r.source === 'semantic') hits += 1;
          await writeLine(out, o.json ? resultJson(r) : [r.source, r.entryId ?? '-', `${r.latencyMs.toFixed(3)}ms`, r.question].join('\t'));
        }
      }, { withModel: !o.lookupOnly, withEmbedder: true });
      const rate = answered === 0 ? 0 : (100 * hits) / answered;
      process.stderr.write(`replayed ${answered} questions: ${hits} hits (${rate.toFixed(1)}%)${skipped > 0 ? `, ${skipped} lines skipped` : ''}\n`);
      if (skipped > 0) process.exitCode = 1;
    });

  program
    .command('stats')
    .description('hits per tier, latency, entries, evictions, top and unanswered questions')
    .option('--json', 'print the report as JSON')
    .addOption(team())
    .action(async (o: { json?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      await withApp(async (app) => {
        const r = await app.report(tenant);
        await writeLine(out, o.json ? JSON.stringify(r, null, 2) : formatReport(r));
      });
    });

  program
    .command('forget')
    .description('remove the cached answer of a question, or an entry by id')
    .argument('[question...]', 'the question whose answer to forget')
    .option('--id <id>', 'the entry id to forget')
    .addOption(team())
    .action(async (words: string[], o: { id?: string; team: string }) => {
      const tenant = checkTenant(o.team);
      if ((words.length === 0) === (o.id === undefined)) {
        throw new KvcacheError('USAGE', 'forget takes either a QUESTION or --id ID (not both, not neither)');
      }
      await withApp(async (app) => {
        const gone = o.id !== undefined ? await app.cache.forgetId(tenant, o.id) : await app.cache.forgetQuestion(tenant, words.join(' '));
        if (!gone) {
          throw new KvcacheError('NOT_FOUND', `nothing cached for ${o.id !== undefined ? `id "${o.id}"` : `"${words.join(' ')}"`} in team "${tenant}"`);
        }
        const note = gone.source === 'faq' ? ' (an FAQ entry: it comes back at the next preload unless you remove it from the file)' : '';
        await writeLine(out, `forgot ${gone.source} entry "${gone.id}": ${gone.question}${note}`);
      });
    });

  program
    .command('export')
    .description('print entries in a preload format')
    .addOption(new Option('--format <format>', 'output format').choices(['yaml', 'json', 'tsv']).default('yaml'))
    .addOption(new Option('--source <source>', 'which entries').choices(['faq', 'team', 'manual', 'generated', 'all']).default('faq'))
    .addOption(team())
    .action(async (o: { format: ExportFormat; source: string; team: string }) => {
      const tenant = checkTenant(o.team);
      await withApp(async (app) => {
        const list = [];
        for await (const e of app.cache.entries(tenant)) if (o.source === 'all' || e.source === o.source) list.push(e);
        out.write(renderExport(list, o.format));
      });
    });

  program
    .command('chat')
    .description('an interactive console through the same pipeline as Slack')
    .addOption(team())
    .action(async (o: { team: string }) => {
      const tenant = checkTenant(o.team);
      await withApp((app) => runChat(app, { tenant, input: process.stdin, output: out }), { withModel: true, withEmbedder: true });
    });

  addSemanticCommands(program, team, withApp);
  addHandoffCommands(program, team, withApp);

  return program;
}

/** Prints an error the way every command does: one line (one per problem for an invalid FAQ). */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // commander already printed its message (unknown option, missing argument, ...)
    return err.exitCode === 0 ? 0 : 2;
  }
  if (err instanceof FaqValidationError) {
    for (const p of err.problems) process.stderr.write(`kvcache: ${formatProblem(p)}\n`);
    process.stderr.write(`kvcache: ${err.problems.length} problem(s) in the input files; nothing was written\n`);
    return 1;
  }
  if (err instanceof KvcacheError) {
    process.stderr.write(`kvcache: ${err.message}\n`);
    return err.code === 'USAGE' ? 2 : 1;
  }
  const e = err as Error;
  process.stderr.write(`kvcache: unexpected error: ${e?.message ?? String(err)}${process.env.KVCACHE_DEBUG ? `\n${e?.stack ?? ''}` : ' (set KVCACHE_DEBUG=1 for details)'}\n`);
  return 1;
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    process.exitCode = reportError(err);
  }
  await flushed(out);
}
