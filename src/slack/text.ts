/**
 * Text going to Slack, in one place: how FAQ and generated text become mrkdwn, how a person's words are shown
 * to admins, and where long text may be cut. Slack measures its limits in characters of the string it gets,
 * so every cut here counts JavaScript string length, and lands on a grapheme boundary that is also outside
 * an HTML entity and outside `<…>` markup.
 */

const segmenter = new Intl.Segmenter(undefined, { granularity: 'grapheme' });
export const ELLIPSIS = '…';

// Slack's mrkdwn treats &, < and > as control characters.
export const escapeMrkdwn = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

const REGIONAL_INDICATOR = /^[\u{1F1E6}-\u{1F1FF}]$/u;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;
const ENTITY = /&(amp|lt|gt);/g;
const ENTITY_CHARS: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>' };
/** Slack sends a typed `<`, `>` and `&` as entities; this undoes that once (and only for those three). */
export const decodeEntities = (s: string) => (s.includes('&') ? s.replace(ENTITY, (m, n: string) => ENTITY_CHARS[n] ?? m) : s);

/**
 * The largest cut ≤ n that splits no grapheme (emoji sequences, flags, combining marks), no `&…;` entity and
 * no `<…>` markup, when one exists in the last part of the string; else n on a grapheme boundary.
 */
export function safeCut(s: string, n: number): number {
  if (n >= s.length) return s.length;
  if (n <= 0) return 0;
  let cut = n;
  // Inside markup: `<` after the last `>`. Inside an entity: `&` after the last `;`, at most 4 characters back.
  const lt = s.lastIndexOf('<', cut - 1);
  if (lt >= 0 && lt > s.lastIndexOf('>', cut - 1) && lt > 0) cut = lt;
  const amp = s.lastIndexOf('&', cut - 1);
  if (amp >= 0 && amp > s.lastIndexOf(';', cut - 1) && cut - amp <= 5) cut = amp;
  // Segment a window around the cut: a grapheme cluster is far shorter than 64 code units. Flags are pairs of
  // regional indicators counted from the start of their run, so the window starts before any run it meets.
  let from = Math.max(0, cut - 64);
  while (from > 1 && REGIONAL_INDICATOR.test(s.slice(from - 2, from))) from -= 2;
  if (from > 0 && isLowSurrogate(s.charCodeAt(from))) from -= 1;
  let best = from;
  for (const { index } of segmenter.segment(s.slice(from, Math.min(s.length, cut + 64)))) {
    if (from + index > cut) break;
    best = from + index;
  }
  return best;
}

/** `s` when it fits in max characters, else a safe prefix and an ellipsis, max characters in all. */
export function truncate(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${s.slice(0, safeCut(s, max - ELLIPSIS.length)).trimEnd()}${ELLIPSIS}`;
}

/**
 * Splits rendered mrkdwn into pieces of at most max characters, preferring a paragraph break, then a line
 * break, then a space, in the second half of each piece; never inside an entity, markup or a grapheme.
 */
export function splitText(s: string, max: number): string[] {
  const out: string[] = [];
  let rest = s;
  while (rest.length > max) {
    const hard = safeCut(rest, max);
    let cut = -1;
    for (const sep of ['\n\n', '\n', ' ']) {
      const at = rest.lastIndexOf(sep, hard - sep.length);
      if (at >= max / 2 && safeCut(rest, at) === at) {
        cut = at;
        break;
      }
    }
    if (cut < 0) cut = hard > 0 ? hard : max;
    out.push(rest.slice(0, cut).trimEnd());
    rest = rest.slice(cut).replace(/^\s+/, '');
  }
  if (rest.length > 0 || out.length === 0) out.push(rest);
  return out;
}

// Slack markup an FAQ author may write and that keeps working: links (<https://…|label>, <mailto:…>), user and
// channel references. Broadcasts (<!here>, <!channel>, <!everyone>, <!subteam^…>) notify whole groups and are
// removed from anything the bot sends; other `<!…>` commands (dates) keep their readable fallback.
const MARKUP = /<(?:(https?:\/\/[^<>|\s]+|mailto:[^<>|\s]+)|([@#][UWC][A-Z0-9]+)|(![^<>|\s]+))(?:\|([^<>]*))?>/g;
const BROADCAST = /^!(?:here|channel|everyone|subteam\^)/;

/**
 * FAQ and generated text as mrkdwn: everything escaped once, except the links and references above, which are
 * kept as written (their label escaped); broadcast mentions are dropped. The same function serves blocks and the
 * top-level `text` that notifications show, so both say the same thing.
 */
export function authorMrkdwn(text: string): string {
  let out = '';
  let last = 0;
  for (const m of text.matchAll(MARKUP)) {
    const [whole, url, ref, special, label] = m;
    out += escapeMrkdwn(text.slice(last, m.index));
    last = m.index + whole.length;
    if (url !== undefined) out += `<${url}${label !== undefined ? `|${escapeMrkdwn(label)}` : ''}>`;
    else if (ref !== undefined) out += label !== undefined ? `<${ref}|${escapeMrkdwn(label)}>` : `<${ref}>`;
    else if (special !== undefined && !BROADCAST.test(special) && label !== undefined) out += escapeMrkdwn(label);
  }
  return out + escapeMrkdwn(text.slice(last));
}

// What a person typed, as Slack delivered it: markup for mentions and links, entities for typed <, > and &.
const SLACK_MARKUP = /<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>/g;

/**
 * A person's words for display (admins' lists, hand-offs): mentions and links become readable text (`@U1`,
 * `#general`, the link's label or URL), entities are decoded once, and nothing in it is markup any more.
 */
export function fromSlackText(raw: string): string {
  const readable = raw.replace(SLACK_MARKUP, (_m, sigil: string, body: string, label: string | undefined) => {
    if (sigil === '@') return `@${label ?? body}`;
    if (sigil === '#') return `#${label ?? body}`;
    if (sigil === '!') return label ?? `@${body.replace(/\^.*/, '')}`;
    return label ?? body.replace(/^mailto:/, '');
  });
  return decodeEntities(readable);
}

/**
 * Several of a person's lines (numbered) as one plain_text object: Slack formats nothing in plain_text, so
 * `*bold*`, `_x_`, `~x~` and backticks stay characters; the three control characters are escaped once, as in
 * every text object. See fitList for what does not fit.
 */
export function plainList(displayed: string[], max = 3000, itemMax = 300): { type: 'plain_text'; text: string; emoji: true } {
  return { type: 'plain_text', text: fitList(displayed.map(escapeMrkdwn), max, itemMax) || ' ', emoji: true };
}

/**
 * Fits already-escaped items into one text of at most max characters, each cut to itemMax, followed by
 * "…and N more" when some do not fit, so a long list never ends mid-item or silently short.
 */
export function fitList(items: string[], max: number, itemMax = 300): string {
  const lines: string[] = [];
  let used = 0;
  for (let i = 0; i < items.length; i += 1) {
    const line = `${i + 1}. ${truncate(items[i] ?? '', itemMax)}`;
    // Room is kept for the "…and N more" line that would follow this one.
    const more = i + 1 < items.length ? `\n…and ${items.length - i - 1} more`.length : 0;
    if (used + line.length + more > max) {
      lines.push(`…and ${items.length - i} more`);
      break;
    }
    lines.push(line);
    used += line.length + 1;
  }
  return lines.join('\n');
}
