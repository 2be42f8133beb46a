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
  inputHint: 2000,
  placeholder: 150,
  textInputLength: 3000, // plain_text_input: max_length and initial_value
  selectOptions: 100,
  choiceOptions: 10, // checkboxes, radio_buttons
  optionText: 75,
  optionValue: 150,
  optionDescription: 75,
  modalTitle: 24, // also submit and close
  privateMetadata: 3000,
  callbackId: 255,
  messageText: 40_000,
  // Not a documented limit: Slack refuses a message whose blocks carry much over ~12,000 characters of text in
  // total (msg_blocks_too_long; bolt-js issues 2509 and 2867), even when every block is within its own limit.
  messageBlocksText: 12_000,
} as const;

const BLOCK_TYPES = new Set(['section', 'context', 'actions', 'header', 'divider', 'image', 'rich_text', 'input']);
// Interactive elements Slack knows; buttons, plain_text_input, static_select, checkboxes and radio_buttons (what the
// bot sends) are checked field by field.
const ELEMENT_TYPES = new Set([
  'button', 'checkboxes', 'datepicker', 'datetimepicker', 'timepicker', 'overflow', 'radio_buttons', 'email_text_input',
  'number_input', 'plain_text_input', 'url_text_input', 'rich_text_input', 'file_input', 'workflow_button',
  'static_select', 'external_select', 'users_select', 'conversations_select', 'channels_select',
  'multi_static_select', 'multi_external_select', 'multi_users_select', 'multi_conversations_select', 'multi_channels_select',
]);
// What an input block can hold: every element above but those that only act (Slack: "unsupported type").
const NOT_INPUT = new Set(['button', 'overflow', 'workflow_button']);

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

function optionalBoolean(v: unknown, path: string): BlockKitProblem | null {
  return v === undefined || typeof v === 'boolean' ? null : bad(path, `must be a boolean, got ${JSON.stringify(v)}`);
}

/** A string field that may be empty (an initial_value of '' is a blank input), at most `max`. */
function maxAnyString(v: unknown, path: string, max: number): BlockKitProblem | null {
  if (v === undefined) return null;
  if (typeof v !== 'string') return bad(path, 'must be a string');
  return v.length > max ? tooLong(path, v.length, max) : null;
}

function textInput(e: Obj, path: string, w: Walk): BlockKitProblem | null {
  const max = LIMITS.textInputLength;
  const limit = (k: 'min_length' | 'max_length', lo: number): BlockKitProblem | null => {
    const v = e[k];
    if (v === undefined) return null;
    return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= max ? null : bad(`${path}.${k}`, `must be an integer from ${lo} to ${n(max)}, got ${JSON.stringify(v)}`);
  };
  return optionalBoolean(e.multiline, `${path}.multiline`) ?? limit('min_length', 0) ?? limit('max_length', 1)
    ?? (typeof e.min_length === 'number' && typeof e.max_length === 'number' && e.min_length > e.max_length
      ? bad(`${path}.min_length`, `${e.min_length} is over max_length ${e.max_length}`) : null)
    ?? maxAnyString(e.initial_value, `${path}.initial_value`, max)
    ?? (e.placeholder === undefined ? null : textObject(e.placeholder, `${path}.placeholder`, w, LIMITS.placeholder, 'plain_text'));
}

/** An option object `{ text, value, description? }`; a select's text and description are plain_text only. */
function option(o: unknown, path: string, w: Walk, only?: 'plain_text'): BlockKitProblem | null {
  if (!isObj(o)) return bad(path, 'must be an option object');
  return textObject(o.text, `${path}.text`, w, LIMITS.optionText, only)
    ?? maxString(o.value, `${path}.value`, LIMITS.optionValue, true)
    ?? (o.description === undefined ? null : textObject(o.description, `${path}.description`, w, LIMITS.optionDescription, only));
}

function options(e: Obj, path: string, w: Walk, max: number, only?: 'plain_text'): BlockKitProblem | Obj[] {
  const list = elementList(e.options, `${path}.options`, 1, max);
  if (!Array.isArray(list)) return list;
  const values = new Set<string>();
  for (const [i, o] of list.entries()) {
    const p = option(o, `${path}.options[${i}]`, w, only);
    if (p !== null) return p;
    const value = (o as Obj).value as string;
    if (values.has(value)) return bad(`${path}.options[${i}].value`, `duplicate value ${JSON.stringify(value)}`);
    values.add(value);
  }
  return list as Obj[];
}

/** Slack refuses an initial option that is not one of the options (compared by value and text). */
function initial(v: unknown, list: Obj[], path: string): BlockKitProblem | null {
  if (!isObj(v)) return bad(path, 'must be an option object');
  const text = isObj(v.text) ? v.text.text : undefined;
  const match = list.some((o) => o.value === v.value && isObj(o.text) && o.text.text === text);
  return match ? null : bad(path, `must be one of the options, got value ${JSON.stringify(v.value)}`);
}

function staticSelect(e: Obj, path: string, w: Walk): BlockKitProblem | null {
  if (e.option_groups !== undefined) return bad(`${path}.option_groups`, 'not supported by the stand-in: use options');
  const p = e.placeholder === undefined ? null : textObject(e.placeholder, `${path}.placeholder`, w, LIMITS.placeholder, 'plain_text');
  if (p !== null) return p;
  const list = options(e, path, w, LIMITS.selectOptions, 'plain_text');
  if (!Array.isArray(list)) return list;
  return e.initial_option === undefined ? null : initial(e.initial_option, list, `${path}.initial_option`);
}

function choices(e: Obj, path: string, w: Walk): BlockKitProblem | null {
  const list = options(e, path, w, LIMITS.choiceOptions);
  if (!Array.isArray(list)) return list;
  if (e.type === 'radio_buttons') return e.initial_option === undefined ? null : initial(e.initial_option, list, `${path}.initial_option`);
  if (e.initial_options === undefined) return null;
  if (!Array.isArray(e.initial_options)) return bad(`${path}.initial_options`, 'must be an array');
  for (const [i, o] of e.initial_options.entries()) {
    const p = initial(o, list, `${path}.initial_options[${i}]`);
    if (p !== null) return p;
  }
  return null;
}

/** An interactive element (actions block, section accessory, input element). */
function element(e: unknown, path: string, w: Walk): BlockKitProblem | null {
  if (!isObj(e)) return bad(path, 'must be an object');
  if (e.type === 'image') return imageElement(e, path);
  if (typeof e.type !== 'string' || !ELEMENT_TYPES.has(e.type)) return bad(`${path}.type`, `unknown element type ${JSON.stringify(e.type)}`);
  // A text input's value comes back in view.state.values[block_id][action_id]: without an action_id the app cannot find it.
  if (e.type === 'plain_text_input' && e.action_id === undefined) return bad(`${path}.action_id`, 'required on a plain_text_input');
  const id = actionId(e.action_id, `${path}.action_id`, w);
  if (id !== null) return id;
  switch (e.type) {
    case 'plain_text_input': return textInput(e, path, w);
    case 'static_select': return staticSelect(e, path, w);
    case 'checkboxes': case 'radio_buttons': return choices(e, path, w);
    case 'button': break;
    default: return null;
  }
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
    case 'input': {
      const p = textObject(b.label, `${path}.label`, w, LIMITS.inputLabel, 'plain_text')
        ?? (b.hint === undefined ? null : textObject(b.hint, `${path}.hint`, w, LIMITS.inputHint, 'plain_text'))
        ?? optionalBoolean(b.optional, `${path}.optional`) ?? optionalBoolean(b.dispatch_action, `${path}.dispatch_action`);
      if (p !== null) return p;
      if (b.element === undefined) return bad(`${path}.element`, 'an input needs an element');
      if (isObj(b.element) && typeof b.element.type === 'string' && NOT_INPUT.has(b.element.type)) {
        return bad(`${path}.element.type`, `an input cannot hold a ${b.element.type}`);
      }
      return element(b.element, `${path}.element`, w);
    }
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

/** Where blocks may go, apart from their shapes and limits (validateBlocks): an input block only in a modal.
 *  Slack refuses one in a message ("unsupported surface for input block") and, for our purposes, in a home tab.
 *  The stand-in applies it to every surface; it is a separate check so that validateMessage stays a check of
 *  shapes and limits alone. */
export function validatePlacement(blocks: unknown, surface: BlockSurface): BlockKitProblem | null {
  if (surface === 'modal' || !Array.isArray(blocks)) return null;
  const i = blocks.findIndex((b) => isObj(b) && b.type === 'input');
  return i < 0 ? null : bad(`blocks[${i}]`, `unsupported surface for input block: only modals take them, not a ${surface === 'message' ? 'message' : 'home tab'}`);
}

/** What views.open checks of its `view`: a modal's own fields (invalid_arguments), then its blocks (as
 *  validateBlocks and validatePlacement answer, the path under `view.`). */
export function validateModal(view: unknown): BlockKitProblem | null {
  const wrong = (path: string, why: string): BlockKitProblem => ({ error: 'invalid_arguments', detail: `${path}: ${why}` });
  if (!isObj(view)) return wrong('view', 'must be an object');
  if (view.type !== 'modal') return wrong('view.type', `must be modal, got ${JSON.stringify(view.type)}`);
  const w: Walk = { blockIds: new Set(), actionIds: new Set(), textChars: 0 }; // the title and buttons count toward nothing
  const plainText = (k: 'title' | 'submit' | 'close'): BlockKitProblem | null => {
    if (view[k] === undefined) return k === 'title' ? wrong('view.title', 'required') : null;
    const p = textObject(view[k], `view.${k}`, w, LIMITS.modalTitle, 'plain_text');
    return p === null ? null : { ...p, error: 'invalid_arguments' };
  };
  const string = (k: 'callback_id' | 'private_metadata', max: number): BlockKitProblem | null => {
    const p = maxAnyString(view[k], `view.${k}`, max);
    return p === null ? null : { ...p, error: 'invalid_arguments' };
  };
  const own = plainText('title') ?? plainText('submit') ?? plainText('close')
    ?? string('callback_id', LIMITS.callbackId) ?? string('private_metadata', LIMITS.privateMetadata);
  if (own !== null) return own;
  const blocks = validateBlocks(view.blocks, 'modal');
  if (blocks !== null) return { ...blocks, detail: `view.${blocks.detail}` };
  // Slack: submit is "required if an input block is within the blocks array".
  if (view.submit === undefined && Array.isArray(view.blocks) && view.blocks.some((b) => isObj(b) && b.type === 'input')) {
    return wrong('view.submit', 'required when the modal has input blocks');
  }
  return null;
}
