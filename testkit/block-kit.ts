// Block Kit as Slack's Web API checks it: the documented limits of the blocks and text objects the bot uses,
// so the stand-in (slack-api.ts) refuses what Slack would refuse. Pure functions; the first problem found wins.
// Lengths are JavaScript string lengths (UTF-16 code units). Slack documents its limits in "characters" and
// counts close to that; an emoji outside the BMP counts 2 here, so a payload that passes here passes there.

/** `error`: the code Slack answers; `detail`: where and why, e.g. `blocks[3].elements[1].value: 2,043 characters, the limit is 2,000`. */
export interface BlockKitProblem { error: string; detail: string }
export type BlockSurface = 'message' | 'home' | 'modal';

export const LIMITS = {
  messageBlocks: 50,
  viewBlocks: 100, // home tabs and modals
  blockId: 255,
  actionId: 255,
  sectionText: 3000,
  sectionFields: 10,
  fieldText: 2000,
  headerText: 150,
  contextElements: 10,
  contextText: 3000,
  actionsElements: 25,
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  imageUrl: 3000,
  altText: 2000,
  imageTitle: 2000,
  inputLabel: 2000,
  messageText: 40_000,
  // Not a documented limit: Slack refuses a message whose blocks carry much over ~12,000 characters of text in
  // total (msg_blocks_too_long; bolt-js issues 2509 and 2867), even when every block is within its own limit.
  messageBlocksText: 12_000,
} as const;

const BLOCK_TYPES = new Set(['section', 'context', 'actions', 'header', 'divider', 'image', 'rich_text', 'input']);
// Interactive elements Slack knows; only buttons (all the bot sends) are checked field by field.
const ELEMENT_TYPES = new Set([
  'button', 'checkboxes', 'datepicker', 'datetimepicker', 'timepicker', 'overflow', 'radio_buttons', 'email_text_input',
  'number_input', 'plain_text_input', 'url_text_input', 'rich_text_input', 'file_input', 'workflow_button',
  'static_select', 'external_select', 'users_select', 'conversations_select', 'channels_select',
  'multi_static_select', 'multi_external_select', 'multi_users_select', 'multi_conversations_select', 'multi_channels_select',
]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const n = (v: number): string => String(v).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const tooLong = (path: string, len: number, max: number): BlockKitProblem =>
  ({ error: 'invalid_blocks', detail: `${path}: ${n(len)} characters, the limit is ${n(max)}` });
const bad = (path: string, why: string): BlockKitProblem => ({ error: 'invalid_blocks', detail: `${path}: ${why}` });

/** State of one walk over a message's (or view's) blocks: ids must be unique across all of it. */
interface Walk { blockIds: Set<string>; actionIds: Set<string>; textChars: number }

/** A text object `{ type: 'plain_text' | 'mrkdwn', text, emoji?, verbatim? }`; counts its text into the total. */
function textObject(v: unknown, path: string, w: Walk, max: number, only?: 'plain_text'): BlockKitProblem | null {
  if (!isObj(v)) return bad(path, 'must be a text object');
  if (v.type !== 'plain_text' && v.type !== 'mrkdwn') return bad(`${path}.type`, `must be plain_text or mrkdwn, got ${JSON.stringify(v.type)}`);
  if (only !== undefined && v.type !== only) return bad(`${path}.type`, `must be ${only}, got ${v.type}`);
  if (typeof v.text !== 'string' || v.text === '') return bad(`${path}.text`, 'must be a non-empty string');
  if (v.emoji !== undefined && v.type !== 'plain_text') return bad(`${path}.emoji`, 'only allowed on plain_text');
  if (v.verbatim !== undefined && v.type !== 'mrkdwn') return bad(`${path}.verbatim`, 'only allowed on mrkdwn');
  if (v.text.length > max) return tooLong(`${path}.text`, v.text.length, max);
  w.textChars += v.text.length;
  return null;
}

function maxString(v: unknown, path: string, max: number, required: boolean): BlockKitProblem | null {
  if (v === undefined && !required) return null;
  if (typeof v !== 'string' || v === '') return bad(path, 'must be a non-empty string');
  return v.length > max ? tooLong(path, v.length, max) : null;
}

function actionId(v: unknown, path: string, w: Walk): BlockKitProblem | null {
  if (v === undefined) return null; // optional: Slack generates one
  const p = maxString(v, path, LIMITS.actionId, true);
  if (p !== null) return p;
  // Slack's documentation says "unique among all other action_ids in the containing block"; the API refuses
  // duplicates anywhere in the message, so check the whole message.
  if (w.actionIds.has(v as string)) return bad(path, `duplicate action_id ${JSON.stringify(v)}`);
  w.actionIds.add(v as string);
  return null;
}

function imageElement(e: Obj, path: string): BlockKitProblem | null {
  if (e.image_url === undefined && e.slack_file === undefined) return bad(path, 'needs image_url or slack_file');
  return maxString(e.image_url, `${path}.image_url`, LIMITS.imageUrl, false) ?? maxString(e.alt_text, `${path}.alt_text`, LIMITS.altText, true);
}

/** An interactive element (actions block, section accessory, input element). */
function element(e: unknown, path: string, w: Walk): BlockKitProblem | null {
  if (!isObj(e)) return bad(path, 'must be an object');
  if (e.type === 'image') return imageElement(e, path);
  if (typeof e.type !== 'string' || !ELEMENT_TYPES.has(e.type)) return bad(`${path}.type`, `unknown element type ${JSON.stringify(e.type)}`);
  const id = actionId(e.action_id, `${path}.action_id`, w);
  if (id !== null || e.type !== 'button') return id;
  return textObject(e.text, `${path}.text`, w, LIMITS.buttonText, 'plain_text')
    ?? (e.value === undefined ? null : typeof e.value !== 'string' ? bad(`${path}.value`, 'must be a string')
      : e.value.length > LIMITS.buttonValue ? tooLong(`${path}.value`, e.value.length, LIMITS.buttonValue) : null)
    ?? maxString(e.url, `${path}.url`, LIMITS.buttonUrl, false)
    ?? (e.style === undefined || e.style === 'primary' || e.style === 'danger' ? null : bad(`${path}.style`, `must be primary or danger, got ${JSON.stringify(e.style)}`));
}

function elementList(v: unknown, path: string, min: number, max: number): BlockKitProblem | unknown[] {
  if (!Array.isArray(v)) return bad(path, 'must be an array');
  if (v.length < min || v.length > max) return bad(path, `${v.length} elements, must be ${min} to ${max}`);
  return v;
}

function block(b: unknown, path: string, w: Walk): BlockKitProblem | null {
  if (!isObj(b)) return bad(path, 'must be an object');
  if (typeof b.type !== 'string' || !BLOCK_TYPES.has(b.type)) return bad(`${path}.type`, `unknown block type ${JSON.stringify(b.type)}`);
  if (b.block_id !== undefined) {
    const p = maxString(b.block_id, `${path}.block_id`, LIMITS.blockId, true);
    if (p !== null) return p;
    if (w.blockIds.has(b.block_id as string)) return bad(`${path}.block_id`, `duplicate block_id ${JSON.stringify(b.block_id)}`);
    w.blockIds.add(b.block_id as string);
  }
  switch (b.type) {
    case 'section': {
      if (b.text === undefined && b.fields === undefined) return bad(path, 'a section needs text or fields');
      if (b.text !== undefined) {
        const p = textObject(b.text, `${path}.text`, w, LIMITS.sectionText);
        if (p !== null) return p;
      }
      if (b.fields !== undefined) {
        const fields = elementList(b.fields, `${path}.fields`, 1, LIMITS.sectionFields);
        if (!Array.isArray(fields)) return fields;
        for (const [i, f] of fields.entries()) {
          const p = textObject(f, `${path}.fields[${i}]`, w, LIMITS.fieldText);
          if (p !== null) return p;
        }
      }
      return b.accessory === undefined ? null : element(b.accessory, `${path}.accessory`, w);
    }
    case 'header':
      return textObject(b.text, `${path}.text`, w, LIMITS.headerText, 'plain_text');
    case 'context': {
      const els = elementList(b.elements, `${path}.elements`, 1, LIMITS.contextElements);
      if (!Array.isArray(els)) return els;
      for (const [i, e] of els.entries()) {
        const p = isObj(e) && e.type === 'image' ? imageElement(e, `${path}.elements[${i}]`) : textObject(e, `${path}.elements[${i}]`, w, LIMITS.contextText);
        if (p !== null) return p;
      }
      return null;
    }
    case 'actions': {
      const els = elementList(b.elements, `${path}.elements`, 1, LIMITS.actionsElements);
      if (!Array.isArray(els)) return els;
      for (const [i, e] of els.entries()) {
        const p = element(e, `${path}.elements[${i}]`, w);
        if (p !== null) return p;
      }
      return null;
    }
    case 'image':
      return imageElement(b, path) ?? (b.title === undefined ? null : textObject(b.title, `${path}.title`, w, LIMITS.imageTitle, 'plain_text'));
    case 'rich_text':
      return Array.isArray(b.elements) ? null : bad(`${path}.elements`, 'must be an array');
    case 'input':
      return textObject(b.label, `${path}.label`, w, LIMITS.inputLabel, 'plain_text') ?? element(b.element, `${path}.element`, w);
    default: // divider
      return null;
  }
}

/** Checks `blocks` for a surface; for a message also the total text carried by its blocks. */
export function validateBlocks(blocks: unknown, surface: BlockSurface): BlockKitProblem | null {
  if (!Array.isArray(blocks)) return { error: 'invalid_blocks_format', detail: `blocks: must be an array, got ${blocks === null ? 'null' : typeof blocks}` };
  const max = surface === 'message' ? LIMITS.messageBlocks : LIMITS.viewBlocks;
  if (blocks.length > max) return { error: 'invalid_blocks', detail: `blocks: ${blocks.length} blocks, the limit is ${max} in a ${surface === 'message' ? 'message' : `${surface} view`}` };
  const w: Walk = { blockIds: new Set(), actionIds: new Set(), textChars: 0 };
  for (const [i, b] of blocks.entries()) {
    const p = block(b, `blocks[${i}]`, w);
    if (p !== null) return p;
  }
  // Home tabs (and modals) are not refused for their total: a 100-block home view of full sections is fine.
  if (surface === 'message' && w.textChars > LIMITS.messageBlocksText) {
    return { error: 'msg_blocks_too_long', detail: `blocks: ${n(w.textChars)} characters of text in all, the limit is about ${n(LIMITS.messageBlocksText)}` };
  }
  return null;
}

/** What chat.postMessage / chat.update / a response_url check: the fallback `text` and the blocks.
 *  `attachments` (legacy) only counts as content for the no_text check. */
export function validateMessage(args: { text?: unknown; blocks?: unknown; attachments?: unknown }): BlockKitProblem | null {
  const { text, blocks } = args;
  if (text !== undefined && typeof text !== 'string') return { error: 'invalid_arguments', detail: `text: must be a string, got ${typeof text}` };
  if (typeof text === 'string' && text.length > LIMITS.messageText) return { error: 'msg_too_long', detail: `text: ${n(text.length)} characters, the limit is ${n(LIMITS.messageText)}` };
  if (blocks !== undefined) {
    const p = validateBlocks(blocks, 'message');
    if (p !== null) return p;
  }
  const hasBlocks = Array.isArray(blocks) && blocks.length > 0;
  if ((text === undefined || text === '') && !hasBlocks && args.attachments === undefined) return { error: 'no_text', detail: 'text: a message needs text or blocks' };
  return null;
}
