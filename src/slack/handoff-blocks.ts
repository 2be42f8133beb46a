/**
 * Block Kit of hand-offs: the post in the support channel, the answer modal, the list for admins. What people
 * wrote (the question, the team's answer) is shown as plain_text or escaped once, never formatted by accident;
 * everything stays within Slack's limits (test/slack-blocks runs them through the validator).
 */
import type { Handoff } from '../handoff/handoffs';
import type { Block, SlackMessage } from './blocks';
import { authorMrkdwn, fitList, fromSlackText, safeCut, splitText, truncate } from './text';

export const ACTION_HANDOFF_ANSWER = 'kvcache_handoff_answer';
export const ACTION_HANDOFF_LINK = 'kvcache_handoff_link';
export const ACTION_HANDOFF_DISMISS = 'kvcache_handoff_dismiss';
/** On an answer: "Ask a person"; on "did you mean": "None of these". Both hand the question off. */
export const ACTION_HANDOFF_REQUEST = 'kvcache_handoff_request';
export const ACTION_HANDOFF_NONE = 'kvcache_handoff_none';
/** The author of an edited thread reply confirms it as the answer. */
export const ACTION_HANDOFF_CONFIRM = 'kvcache_handoff_confirm';
export const HANDOFF_MODAL = 'kvcache_handoff_modal';

/** What a desk button carries: the tenant and the hand-off's key (both short). */
export interface DeskValue {
  t: string;
  h: string;
}

/** What the modal keeps between opening and submission. */
export interface ModalMeta extends DeskValue {
  mode: 'answer' | 'link';
  /** The support post, to update once answered. */
  c?: string;
  ts?: string;
}

const plain = (text: string): Block => ({ type: 'section', text: { type: 'plain_text', text: truncate(text, 3000) || ' ', emoji: false } });
const context = (mrkdwn: string): Block => ({ type: 'context', elements: [{ type: 'mrkdwn', text: mrkdwn }] });
const header = (text: string): Block => ({ type: 'header', text: { type: 'plain_text', text: truncate(text, 150), emoji: true } });
const button = (actionId: string, label: string, value: string, style?: 'primary' | 'danger'): Block => ({
  type: 'button', action_id: actionId, text: { type: 'plain_text', text: label, emoji: true }, value, ...(style ? { style } : {}),
});
const shown = (raw: string) => fromSlackText(raw);
/** Slack ids and links we got from Slack itself: safe in mrkdwn. */
const userRef = (id: string) => (/^[UW][A-Z0-9]+$/.test(id) ? `<@${id}>` : 'someone');
const channelRef = (id: string | undefined) => (id && /^[CGD][A-Z0-9]+$/.test(id) ? (id.startsWith('D') ? 'a DM' : `<#${id}>`) : 'the console');

/** The desk's three buttons, on the support post and in the App Home. */
const deskButtons = (v: string): Block[] => [button(ACTION_HANDOFF_ANSWER, 'Answer', v, 'primary'), button(ACTION_HANDOFF_LINK, 'Link to an FAQ entry', v), button(ACTION_HANDOFF_DISMISS, 'Not for us', v, 'danger')];

export const deskValue = (h: Handoff): string => JSON.stringify({ t: h.tenant, h: h.key } satisfies DeskValue);

export function parseDeskValue(raw: string | undefined): DeskValue | null {
  try {
    const v = JSON.parse(raw ?? '') as Partial<DeskValue>;
    return typeof v.t === 'string' && typeof v.h === 'string' ? { t: v.t, h: v.h } : null;
  } catch {
    return null;
  }
}

function asked(h: Handoff): string {
  const first = h.askers[0];
  const where = first ? `Asked by ${userRef(first.user)} in ${channelRef(first.channel)}${first.permalink && /^https:\/\//.test(first.permalink) ? ` · <${first.permalink}|see the question>` : ''}` : 'Asked';
  return h.asked > 1 ? `${where} · asked ${h.asked} times by ${h.askers.length} ${h.askers.length === 1 ? 'person' : 'people'}` : where;
}

function tried(h: Handoff): string {
  if (h.tried.length === 0) return 'What I tried: no FAQ entry came close.';
  return `What I tried (nearest FAQ entries):\n${h.tried.map((t, i) => `${i + 1}. ${truncate(t.question, 200)} (${t.entryId}, similarity ${t.similarity.toFixed(2)})`).join('\n')}`;
}

const REASON: Record<Handoff['reason'], string> = {
  unanswered: 'No FAQ entry answers it.',
  'dismissed-suggestions': 'The asker said none of my suggestions fit.',
  requested: 'The asker asked for a person.',
};

/** The post in the support channel: the question, who asked where, what the bot tried, and what to do. */
export function supportPost(h: Handoff): SlackMessage {
  const v = deskValue(h);
  return {
    text: `Question for the team (#${h.number}): ${truncate(shown(h.question), 2000)}`,
    blocks: [
      header(`Question for the team #${h.number}`),
      plain(shown(h.question)),
      context(`${asked(h)} · ${REASON[h.reason]}`),
      plain(tried(h)),
      {
        type: 'actions',
        block_id: 'kvcache_handoff',
        elements: deskButtons(v),
      },
      context('Or reply in this thread: the first reply by a member of this channel is sent to the askers and saved as the team answer.'),
    ],
  };
}

/** The same post once closed: who answered and what, without the buttons. */
export function supportClosed(h: Handoff, told: number): SlackMessage {
  const by = h.closedBy ? userRef(h.closedBy) : 'the team';
  const blocks: Block[] = [header(`Question for the team #${h.number}`), plain(shown(h.question)), context(asked(h))];
  if (h.status === 'answered') {
    const saved = h.entryId ? (h.linkedTo ? ` · saved as another wording of FAQ entry \`${truncate(h.linkedTo, 100)}\`` : ' · saved as the team answer') : ' · not saved';
    // Two sections at most beside the question: within the ~12,000 characters a message may carry (the askers got it whole).
    const parts = splitText(authorMrkdwn(h.answer ?? ''), 3000);
    for (const part of parts.slice(0, 2)) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: part || ' ' } });
    if (parts.length > 2) blocks.push(context(`…the answer goes on (${(h.answer ?? '').length.toLocaleString('en-US')} characters); \`kvcache handoffs --all\` shows it`));
    blocks.push(context(`✅ Answered by ${by} · sent to ${told} ${told === 1 ? 'asker' : 'askers'}${saved}`));
  } else {
    blocks.push(context(`Closed as not for us by ${by} · ${told} ${told === 1 ? 'asker was' : 'askers were'} told`));
  }
  return { text: `Question for the team (#${h.number}) ${h.status === 'answered' ? 'answered' : 'closed'}`, blocks };
}

/** Buttons under an answer and under "did you mean", so the asker can ask for a person. */
export function requestButton(value: string): Block {
  return button(ACTION_HANDOFF_REQUEST, 'Ask a person', value);
}
export function noneButton(value: string): Block {
  return button(ACTION_HANDOFF_NONE, 'None of these: ask the team', value);
}

export const HANDOFF_REPLY = "I don't know the answer to this one yet, so I've passed your question to our support team. I'll reply here as soon as they answer.";
export const HANDOFF_DISMISSED_REPLY = "Our support team looked at your question and can't answer it here. Please contact them directly for this one.";

/** The answer modal ("answer") or the link-only one ("link"); entries are the FAQ entries to link to. */
export function answerModal(h: Handoff, entries: Array<{ id: string; question: string }>, meta: ModalMeta): Record<string, unknown> {
  const tried = new Set(h.tried.map((t) => t.entryId));
  const ordered = [...entries.filter((e) => tried.has(e.id)), ...entries.filter((e) => !tried.has(e.id)).sort((a, b) => a.question.localeCompare(b.question))];
  const options = ordered.slice(0, 100).map((e) => ({
    text: { type: 'plain_text', text: truncate(shown(e.question), 75) || e.id.slice(0, 75), emoji: false },
    value: e.id.length <= 150 ? e.id : e.id.slice(0, safeCut(e.id, 150)),
  }));
  const select = (optional: boolean): Block => ({
    type: 'input',
    block_id: 'link',
    optional,
    label: { type: 'plain_text', text: optional ? 'Or answer with an FAQ entry (the question becomes another wording of it)' : 'The FAQ entry that answers it' },
    element: { type: 'static_select', action_id: 'entry', placeholder: { type: 'plain_text', text: 'Choose an entry' }, options },
  });
  const blocks: Block[] = [plain(shown(h.question))];
  if (meta.mode === 'answer') {
    blocks.push(
      { type: 'input', block_id: 'answer', optional: options.length > 0, label: { type: 'plain_text', text: 'Your answer' }, element: { type: 'plain_text_input', action_id: 'text', multiline: true, max_length: 3000 } },
      {
        type: 'input',
        block_id: 'learn',
        optional: true,
        label: { type: 'plain_text', text: 'Learning' },
        element: {
          type: 'checkboxes',
          action_id: 'learn',
          options: [{ text: { type: 'plain_text', text: 'Save as the team answer' }, value: 'team', description: { type: 'plain_text', text: 'Future askers of this question get it' } }],
          initial_options: [{ text: { type: 'plain_text', text: 'Save as the team answer' }, value: 'team', description: { type: 'plain_text', text: 'Future askers of this question get it' } }],
        },
      },
    );
    if (options.length > 0) blocks.push(select(true));
  } else if (options.length > 0) {
    blocks.push(select(false));
  } else {
    blocks.push(context('This team has no FAQ entries to link to yet: use Answer instead.'));
  }
  return {
    type: 'modal',
    callback_id: HANDOFF_MODAL,
    private_metadata: JSON.stringify(meta),
    title: { type: 'plain_text', text: truncate(`${meta.mode === 'answer' ? 'Answer' : 'Link'} #${h.number}`, 24) },
    submit: { type: 'plain_text', text: meta.mode === 'answer' ? 'Send' : 'Link' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks,
  };
}

/** `/kvcache handoffs`: the open ones, oldest first, as plain text (people's words). */
export function handoffList(list: Handoff[], now: number): SlackMessage {
  const items = list.map((h) => `#${h.number} ${shown(h.question)} (asked ${h.asked}×, waiting ${waited(now - h.openedAt)})`);
  const title = 'Open hand-offs';
  if (items.length === 0) return { text: `${title}: none`, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${title}*\n_none_` } }] };
  return {
    text: `${title}\n${fitList(items, 2900)}`,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `*${title}*` } }, { type: 'section', text: { type: 'plain_text', text: fitList(items, 3000), emoji: false } }],
  };
}

/** For the App Home: the oldest open hand-offs, each with the desk's buttons (at most 10, within 100 blocks). */
export function handoffHomeBlocks(list: Handoff[], now: number): Block[] {
  const blocks: Block[] = [header('Open hand-offs')];
  if (list.length === 0) return [...blocks, context('_None: every question has an answer._')];
  for (const h of list.slice(0, 10)) {
    const v = deskValue(h);
    blocks.push(plain(`#${h.number} ${shown(h.question)}`), context(`asked ${h.asked}× · waiting ${waited(now - h.openedAt)}`), {
      type: 'actions',
      block_id: `kvcache_handoff_${h.number}`,
      elements: deskButtons(v),
    });
  }
  if (list.length > 10) blocks.push(context(`…and ${list.length - 10} more: \`/kvcache handoffs\` lists them all.`));
  return blocks;
}

function waited(ms: number): string {
  const min = Math.max(0, Math.round(ms / 60_000));
  return min < 60 ? `${min} min` : min < 48 * 60 ? `${Math.round(min / 60)} h` : `${Math.round(min / 1440)} days`;
}
