/**
 * `kvcache handoffs`, `kvcache answer N "…"` and `kvcache dismiss N`: the support team's desk without Slack, over
 * the same core (src/handoff/). An answer given here reaches Slack askers through the bot's relay (within a few
 * seconds, from whichever replica takes it) and console askers at their next check.
 */
import type { Command, Option } from 'commander';
import { handoffLines } from '../console/chat';
import { checkTenant } from '../core/keys';
import { KvcacheError } from '../errors';
import { writeLine } from './output';
import type { WithApp } from './semantic';

const out = process.stdout;

function handoffNumber(raw: string): number {
  const n = Number(raw.replace(/^#/, ''));
  if (!Number.isInteger(n) || n < 1) throw new KvcacheError('USAGE', `"${raw}" is not a hand-off number; \`kvcache handoffs\` lists them (#1, #2, …)`);
  return n;
}

export function addHandoffCommands(program: Command, team: () => Option, withApp: WithApp): void {
  program
    .command('handoffs')
    .description('questions handed to the support team: the open ones (or --all, including the answered ones)')
    .option('--all', 'also list answered and dismissed hand-offs (kept 30 days)')
    .option('--json', 'print them as JSON')
    .addOption(team())
    .action(async (o: { all?: boolean; json?: boolean; team: string }) => {
      const tenant = checkTenant(o.team);
      await withApp(async (app) => {
        const list = await app.handoffs.list(tenant, o.all ? 'all' : 'open');
        if (o.json) return writeLine(out, JSON.stringify(list));
        if (!o.all) {
          for (const l of handoffLines(list, app.clock.now())) await writeLine(out, l);
          return;
        }
        if (list.length === 0) return writeLine(out, 'no hand-offs');
        for (const h of list) await writeLine(out, `#${h.number}  [${h.status}]  ${h.question}${h.answer ? `  →  ${h.answer.replace(/\s+/g, ' ').slice(0, 120)}` : ''}`);
      });
    });

  program
    .command('answer')
    .description('answer hand-off N: the askers are told, and the answer is saved as a team entry for the question')
    .argument('<number>', 'the hand-off number, as `kvcache handoffs` lists it')
    .argument('[answer...]', 'the answer text')
    .option('--link <entryId>', 'answer with this FAQ entry instead: the question becomes another wording of it')
    .option('--once', 'tell these askers only; do not save the answer for future askers')
    .option('--by <name>', 'who answers (shown in the support channel and kept with the entry)', 'cli')
    .addOption(team())
    .action(async (num: string, words: string[], o: { link?: string; once?: boolean; by: string; team: string }) => {
      const tenant = checkTenant(o.team);
      const n = handoffNumber(num);
      const text = words.join(' ').trim();
      if ((text === '') === (o.link === undefined)) throw new KvcacheError('USAGE', 'answer takes either the ANSWER text or --link ENTRY (not both, not neither)');
      await withApp(
        async (app) => {
          const { handoff, entry } = await app.handoffs.answer(tenant, n, { answer: text, by: o.by, learn: o.once ? 'once' : 'team', ...(o.link !== undefined ? { linkTo: o.link } : {}) });
          const saved = entry ? (entry.source === 'team' ? `saved as team entry ${entry.id}` : `cached as a ${entry.source} answer`) : 'not saved';
          await writeLine(out, `answered hand-off #${handoff.number} (${saved}); ${handoff.askers.length} ${handoff.askers.length === 1 ? 'asker' : 'askers'} will be told`);
        },
        { withEmbedder: true },
      );
    });

  program
    .command('dismiss')
    .description('close hand-off N as not for us: the askers are told the team cannot answer it here')
    .argument('<number>', 'the hand-off number')
    .option('--by <name>', 'who closes it', 'cli')
    .addOption(team())
    .action(async (num: string, o: { by: string; team: string }) => {
      const tenant = checkTenant(o.team);
      const n = handoffNumber(num);
      await withApp(async (app) => {
        const h = await app.handoffs.dismiss(tenant, n, o.by);
        await writeLine(out, `closed hand-off #${h.number} as not for us; ${h.askers.length} ${h.askers.length === 1 ? 'asker' : 'askers'} will be told`);
      });
    });
}
