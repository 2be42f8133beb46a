import { exactForm, normalizeQuestion } from '../src/core/normalize';

const CASES: ReadonlyArray<readonly [string, string]> = [
  // case
  ['How do I reset my password?', 'how do i reset my password'],
  ['HOW DO I RESET MY PASSWORD', 'how do i reset my password'],
  ['STRASSE vs Straße', 'strasse vs strasse'],
  ['ΟΔΟΣ', 'οδος'],
  // full width Latin, digits and punctuation
  ['ＡＢＣ１２３', 'abc123'],
  ['Ｒｅｓｅｔ　ｍｙ　ｐａｓｓｗｏｒｄ？', 'reset my password'],
  ['Is it free？！', 'is it free'],
  ['ｆｕｌｌ－ｗｉｄｔｈ！', 'full width'],
  // Chinese, CJK punctuation, mixed scripts
  ['退款流程是什么？', '退款流程是什么'],
  ['退款 流程', '退款流程'],
  ['「退款」流程，怎么走？', '退款流程怎么走'],
  ['《用户手册》在哪里……', '用户手册在哪里'],
  ['如何 reset 密码', '如何reset密码'],
  ['如何reset密码', '如何reset密码'],
  ['VPN 连接 失败 怎么办', 'vpn连接失败怎么办'],
  // Japanese kana (half width too), Korean keeps its spaces
  ['パスワードを リセット する 方法は？', 'パスワードをリセットする方法は'],
  ['ﾊﾟｽﾜｰﾄﾞ', 'パスワード'],
  ['비밀번호를 어떻게 재설정하나요?', '비밀번호를 어떻게 재설정하나요'],
  // Slack mentions, channels, links
  ['<@U123ABC> how do I get a refund?', 'how do i get a refund'],
  ['<@U123ABC|alice> refund please', 'refund please'],
  ['ask in <#C123|general>', 'ask in general'],
  ['ask in <#C123>', 'ask in'],
  ['<!here> is the VPN down?', 'is the vpn down'],
  ['<!channel> <!everyone> VPN down', 'vpn down'],
  ['<!subteam^S123|@support> help with billing', 'help with billing'],
  ['due <!date^1392734382^{date_short}|Feb 18, 2014>', 'due feb 18 2014'],
  ['see <https://x.y/z|the docs>', 'see the docs'],
  ['see <https://x.y/z>', 'see https x y z'],
  ['email <mailto:a@b.c>', 'email a b c'],
  // emoji codes, but not times
  ['thanks :+1:', 'thanks'],
  ['great :thumbsup::skin-tone-3: works', 'great works'],
  ['help :skin-tone-2: me', 'help me'],
  ['meeting at 10:30:45', 'meeting at 10 30 45'],
  ['ratio :123: done', 'ratio 123 done'],
  // formatting and HTML escapes
  ['*bold* _italic_ ~strike~', 'bold italic strike'],
  ['run `npm install` first', 'run npm install first'],
  ['```npm ci```', 'npm ci'],
  ['Q&amp;A &lt;admin&gt;', 'q a <admin>'],
  ['&lt;@U1&gt; typed text', '< u1> typed text'],
  // apostrophes, quotes, hyphens, dashes
  ['can I cancel', 'can i cancel'],
  ["can't I cancel", 'cant i cancel'],
  ['can’t I cancel', 'cant i cancel'],
  ['canʼt', 'cant'],
  ['rock ’n’ roll', 'rock n roll'],
  ['"quoted" and \'single\'', 'quoted and single'],
  ['log-in problems', 'log in problems'],
  ['A/B test — results…', 'a b test results'],
  // numbers and symbols
  ['is 1.5 GB enough', 'is 1 5 gb enough'],
  ['2FA not working on iOS 17.2', '2fa not working on ios 17 2'],
  ['price is $5', 'price is $5'],
  ['C++ vs C#', 'c++ vs c#'],
  ['50% off €10 + tax = total', '50% off €10 + tax = total'],
  // invisible characters, whitespace, junk at the ends
  ['pass\u200Bword reset\uFEFF', 'password reset'],
  ['reset\u00A0my\tpassword\nplease', 'reset my password please'],
  ['  ...reset password!!!  ', 'reset password'],
  // emoji pictographs
  ['VPN down 😭🙏', 'vpn down'],
  ['👍🏽 thanks ❤️', 'thanks'],
  ['退款👍流程', '退款流程'],
  // nothing left
  ['', ''],
  ['?!... ，。', ''],
  ['<@U1> :wave:', ''],
];

describe('normalizeQuestion', () => {
  test('table has enough cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(45);
  });

  test.each(CASES)('%j -> %j', (input, expected) => {
    expect(normalizeQuestion(input)).toBe(expected);
  });

  test.each(CASES.map(([input]) => [input]))('is idempotent for %j', (input) => {
    const once = normalizeQuestion(input);
    expect(normalizeQuestion(once)).toBe(once);
  });

  const MUST_DIFFER: ReadonlyArray<readonly [string, string]> = [
    ['can I cancel', "can't I cancel"],
    ['can I cancel', 'can’t I cancel'],
    ['1.5', '15'],
    ['1.5 GB', '15 GB'],
    ['C++', 'C'],
    ['C#', 'C'],
    ['$5', '5'],
    ['50%', '50'],
    ['A+', 'A'],
    ['refund', 'refunds'],
    ['not working', 'working'],
    ['is it free', 'it is free'],
    ['log in', 'login'],
    ['비밀 번호', '비밀번호'],
    ['10:30', '1030'],
  ];
  test.each(MUST_DIFFER)('%j and %j stay different', (a, b) => {
    expect(normalizeQuestion(a)).not.toBe(normalizeQuestion(b));
  });

  const MUST_MATCH: ReadonlyArray<readonly [string, string]> = [
    ['Reset Password', 'reset password'],
    ['ＲＥＳＥＴ　ＰＡＳＳＷＯＲＤ', 'reset password'],
    ['reset password?', 'reset password'],
    ['reset, password!', 'reset password'],
    ['<@U123> reset password', 'reset password'],
    ['<@U123|bob> reset password', '<@U999> reset password'],
    ['<!here> reset password', 'reset password'],
    ['see <https://a.b/c|docs>', 'see docs'],
    ['*reset* password', 'reset password'],
    ['`reset` password', 'reset password'],
    ['reset password :pray:', 'reset password'],
    ['can’t log in', "can't log in"],
    ['pass\u200Bword', 'password'],
    ['Straße', 'strasse'],
    ['退款 流程', '退款流程'],
    ['退款，流程？', '退款流程'],
    ['如何 reset 密码', '如何reset密码'],
  ];
  test.each(MUST_MATCH)('%j and %j match', (a, b) => {
    expect(normalizeQuestion(a)).toBe(normalizeQuestion(b));
  });
});

describe('exactForm', () => {
  test.each([
    ['  hello   world  ', 'hello world'],
    ['Hello,\tWorld?', 'Hello, World?'],
    ['line1\n\nline2', 'line1 line2'],
    ['a\u00A0b\u3000c', 'a b c'],
    ['x\u2028y\u0085z', 'x y z'],
    ["Can't *Bold* <@U1>", "Can't *Bold* <@U1>"],
    ['ＡＢＣ？', 'ＡＢＣ？'],
    ['a\u200Bb', 'a\u200Bb'],
    ['', ''],
    [' \t\n ', ''],
  ])('%j -> %j', (input, expected) => {
    expect(exactForm(input)).toBe(expected);
  });
});
