/**
 * Question keys for the answer cache. A question is looked up twice: by its exact form (what was typed, give
 * or take whitespace) and by its normalized form, which folds away differences that never change what is
 * being asked. Normalization must stay meaning-preserving: a false match serves a wrong answer, while a miss
 * only costs a model call, so when in doubt two questions stay different.
 */

// JS `\s` omits U+0085 and includes U+FEFF, which is not whitespace; the Unicode property is exact. Lone
// ASCII spaces are left alone: replacing each with itself would cost a copy per word.
const WS_RUN = /\p{White_Space}{2,}|[^\P{White_Space} ]/gu;
const EDGE_SPACE = /^ | $/g;

/** The question as asked: trimmed, every run of Unicode whitespace collapsed to one ASCII space. */
export function exactForm(text: string): string {
  return text.replace(WS_RUN, ' ').replace(EDGE_SPACE, '');
}

// Slack entities. Slack escapes a typed `<` as `&lt;`, so any raw `<...>` is markup. User and channel ids
// must start with an upper-case letter and links must carry a scheme: normalized output is lower case and
// has no `:` or `!`, so it can never match again (idempotence).
const SLACK_ENTITY = /<(?:([@#])[A-Z][A-Z0-9]*|(![^<>|\s]+)|([A-Za-z][A-Za-z0-9+.-]*:[^<>|\s]*))(?:\|([^<>]*))?>/g;
const SPECIAL_MENTION = /^!(?:here|channel|everyone|subteam\^)/;
const MAILTO = /^mailto:/i;
// Not after a letter or digit, so times (10:30:45) and `key:value:` text survive; the name needs a letter
// (or is +1/-1). The lookahead keeps the match linear; the length cap bounds it.
const EMOJI_CODE = /:(?<![A-Za-z0-9]:)(?:(?=[a-z0-9_+-]{0,99}[a-z])[a-z0-9_+-]{1,100}|[+-]1):/g;
const CODE_FENCE = /```([\s\S]*?)```/g;
const INLINE_CODE = /`([^`\n]+)`/g;
// Slack only formats a marker pair that sits on word boundaries and hugs its text.
const EMPHASIS = /([*_~])(?<![\p{L}\p{N}].)(?!\s)([^\n]+?)(?<!\s)\1(?![\p{L}\p{N}])/gu;
const EMPHASIS_CHAR = /[*_~]/;
const HTML_ESCAPE = /&(amp|lt|gt);/g;
const HTML_CHARS: Readonly<Record<string, string>> = { amp: '&', lt: '<', gt: '>' };

// Joiners and variation selectors sit inside words or emoji sequences: delete them. Pictographs stand for
// words, so they become a space and never glue their neighbours together. Keycap (U+20E3), tag characters
// (subdivision flags) and regional indicators (flags) are parts of emoji that are not Extended_Pictographic.
const INVISIBLE = /[\u200B-\u200D\u2060\uFEFF\uFE00-\uFE0F\u20E3\u{E0020}-\u{E007F}\u{E0100}-\u{E01EF}]/gu;
const PICTOGRAPH = /[\p{Extended_Pictographic}\u{1F3FB}-\u{1F3FF}\u{1F1E6}-\u{1F1FF}]/gu;
const NON_ASCII = /[^\x00-\x7F]/;
// Lookbehinds in these patterns follow a literal: one in front would run at every position of the string.

// A word-internal apostrophe is deleted rather than spaced, so "can't" stays one word that differs from "can".
const WORD_APOSTROPHE = /['\u2019\u02BC](?<=[\p{L}\p{N}\p{M}].)(?=[\p{L}\p{N}\p{M}])/gu;
// All punctuation except `#` and `%`, which are \p{Po} but change meaning ("C#", "50%"). U+02BC is a letter
// to Unicode but an apostrophe to people. Stray `~` and backticks (symbols) are formatting left unpaired.
const PUNCTUATION = /[^\P{P}#%]|[\u02BC~`]/gu;
// A combining mark with no letter before it (left behind by removed punctuation or emoji, or from a spacing
// mark such as ゛, which NFKC turns into space + U+3099) marks nothing. Dropping it also means that removing
// a CJK space below can never join a letter and a mark that NFKC would then compose.
const ORPHAN_MARK = /(^|\p{White_Space})\p{M}+/gu;
// Chinese and Japanese do not separate words with spaces, so any space touching one of their characters is
// incidental. Hangul does separate words, so it is not listed.
const CJK_SPACE =
  / (?:(?=[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}])|(?<=[\p{scx=Han}\p{scx=Hiragana}\p{scx=Katakana}] ))/gu;

function slackEntity(_m: string, sigil?: string, special?: string, url?: string, label?: string): string {
  if (url !== undefined) return ` ${label ?? url.replace(MAILTO, '')} `;
  if (sigil === '#' && label !== undefined) return ` ${label} `;
  // `<!date^...|fallback>` and similar commands carry their readable text in the label.
  if (special !== undefined && !SPECIAL_MENTION.test(special) && label !== undefined) return ` ${label} `;
  return ' ';
}

function htmlChar(escape: string, name: string): string {
  return HTML_CHARS[name] ?? escape;
}

function stripSlackMarkup(s: string): string {
  if (s.includes('<')) s = s.replace(SLACK_ENTITY, slackEntity);
  if (s.includes(':')) s = s.replace(EMOJI_CODE, ' ');
  if (s.includes('`')) s = s.replace(CODE_FENCE, ' $1 ').replace(INLINE_CODE, '$1');
  if (EMPHASIS_CHAR.test(s)) s = s.replace(EMPHASIS, '$2');
  // Last, so that a typed `&lt;@U1&gt;` stays text instead of turning into a mention.
  if (s.includes('&')) s = s.replace(HTML_ESCAPE, htmlChar);
  return s;
}

/**
 * The normalized lookup key for a question. Deterministic and idempotent; the rules apply in this order:
 *
 * 1. Slack markup, on the raw text: user mentions `<@U1>` / `<@U1|name>` and special mentions `<!here>`,
 *    `<!channel>`, `<!everyone>`, `<!subteam^S1|@team>` are removed; `<#C1|general>` becomes `general`
 *    (`<#C1>` is removed); `<url|label>` becomes `label`, `<url>` the url and `<mailto:a@b.c>` `a@b.c`;
 *    `:emoji:` codes (`:+1:`, `:skin-tone-2:`) are removed but `10:30:45` is not; `*bold*`, `_italic_`,
 *    `~strike~`, inline code and ``` fences lose their markers and keep their text; then `&amp;`, `&lt;`,
 *    `&gt;` are decoded.
 * 2. Unicode NFKC (full width to half width, compatibility forms); zero-width characters and variation
 *    selectors are deleted, emoji pictographs, skin tones and flags become spaces.
 * 3. Case: locale-independent toLowerCase() of the whole string (so a final sigma becomes ς), and ß → ss.
 * 4. Punctuation: an apostrophe (' ’ ʼ) between letters or digits is deleted ("can't" → "cant", still not
 *    "can"); every other \p{P} character, CJK punctuation included, becomes a space, so "1.5" → "1 5" (still
 *    not "15"), and so do stray `~` and backticks. Symbols (\p{S}: $ € + = < >) are kept, and so are `#` and
 *    `%`, as they change meaning. Combining marks left with no letter before them are dropped.
 * 5. Whitespace runs collapse to one space, the ends are trimmed, and spaces next to a Han, Hiragana or
 *    Katakana character are removed ("退款 流程" → "退款流程"); Hangul keeps its spaces.
 *
 * Words are never dropped, stemmed or corrected. A question with nothing left returns "".
 */
export function normalizeQuestion(text: string): string {
  let s = stripSlackMarkup(text);

  const nonAscii = NON_ASCII.test(s);
  if (nonAscii) s = s.normalize('NFKC').replace(INVISIBLE, '').replace(PICTOGRAPH, ' ');

  s = s.toLowerCase();
  if (nonAscii) s = s.replaceAll('ß', 'ss');

  s = s.replace(WORD_APOSTROPHE, '').replace(PUNCTUATION, ' ');
  if (nonAscii) {
    // Deletions can bring a combining mark next to its base letter (e + ' + U+0301) and lower-casing can leave
    // NFKC: compose again so that a second pass changes nothing.
    s = s.replace(ORPHAN_MARK, '$1').normalize('NFKC');
  }

  s = s.replace(WS_RUN, ' ').replace(EDGE_SPACE, '');
  if (nonAscii) s = s.replace(CJK_SPACE, '');
  return s;
}
