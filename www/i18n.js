// The site's words in Japanese and English. Keys are used by `data-i18n` attributes and by
// app.js; `{name}` placeholders are filled by `t(key, values)`.

export const messages = {
  ja: {
    skip: 'メインへ移動',
    city: 'みどり市',
    langHelp: '表示言語を切り替えます',
    langButton: 'English',
    title: 'スマホのチップで手続き',
    lead: 'あなたのスマートフォンの安全なチップに、市役所の証明書や会員証を入れて使います。スマートフォンのアプリは暗号化された命令を運ぶだけで、鍵を持ちません。',
    residentTitle: '住民票（電子証明書）',
    residentText: 'チップの中で鍵を作り、その鍵の証明書を書き込みます。',
    residentButton: '住民票を受け取る',
    pointsTitle: 'みどりポイント',
    pointsText: '会員証にポイントを貯めて、使います。残高はチップが管理します。',
    pointsAdd: '100ポイント追加',
    pointsSpend: '30ポイント使う',
    memberTitle: '会員証',
    memberText: 'チップから会員証を読み出して表示します。',
    memberButton: '会員証を表示',
    tamper: '結果を途中で書き換える（改ざんのデモ）',
    resultTitle: '結果',
    timelineTitle: '手続きの流れ',
    phoneTitle: 'スマートフォン（共通アプリ）',
    phoneNote: '共通アプリに見えるのは暗号化された命令（APDU）だけです。鍵はチップの中にあります。',
    chipId: 'チップ',
    exchanges: '通信回数',
    apdus: 'APDU',
    footer: 'kazashi デモ: サーバー（SQLite）、仮想チップ、このサイトはすべて本物のプロトコルで動いています。',
    stepRegister: '市役所が命令に署名・暗号化し、サーバーに登録（{ops}件の操作）',
    stepRelay: '共通アプリがチップと通信（APDU {apdus}個、サーバーとの往復 {exchanges}回）',
    stepVerifyBrowser: 'このブラウザで結果の署名を確認',
    stepVerifyBackend: '市役所のサーバーでも結果を確認',
    stepRejected: 'このブラウザが結果を拒否しました',
    stepFailed: 'エラー',
    verifiedOk: '✓ 確認済み: サーバーの署名は正しく、チップは全ての操作を行いました。',
    verifiedFailed: '△ 署名は正しいが、チップが操作を拒否しました: {reason}',
    rejected: '✗ 拒否しました: 結果が書き換えられています（{code}）。何も表示しません。',
    error: 'うまくいきませんでした: {message}',
    working: '処理中です… スマートフォンをそのままにしてください。',
    certificate: '電子証明書',
    name: '氏名',
    born: '生年月日',
    address: '住所',
    serial: '番号',
    keyOnChip: 'チップ内の鍵',
    points: 'ポイント残高',
    memberCard: '会員証',
    number: '会員番号',
    tier: 'ランク',
    noCard: 'まだ会員証がありません。先にポイントを追加してください。',
    notEnough: 'ポイントが足りません。',
    ms: '{ms} ミリ秒',
  },
  en: {
    skip: 'Skip to main content',
    city: 'Midori City',
    langHelp: 'Switches the display language',
    langButton: '日本語',
    title: 'Services with your phone’s chip',
    lead: 'The city hall puts certificates and member cards into the secure chip of your phone and uses them. The app on your phone only carries encrypted commands and holds no keys.',
    residentTitle: 'Resident ID (e-certificate)',
    residentText: 'A key pair is made inside the chip, and a certificate for that key is written beside it.',
    residentButton: 'Receive my resident ID',
    pointsTitle: 'Midori points',
    pointsText: 'Collect points on your member card and spend them. The chip keeps the balance.',
    pointsAdd: 'Add 100 points',
    pointsSpend: 'Spend 30 points',
    memberTitle: 'Member card',
    memberText: 'Reads your member card from the chip and shows it.',
    memberButton: 'Show my member card',
    tamper: 'Change the result on its way (tampering demo)',
    resultTitle: 'Result',
    timelineTitle: 'What happened',
    phoneTitle: 'Phone (common app)',
    phoneNote: 'The common app sees only encrypted commands (APDUs). The keys stay in the chip.',
    chipId: 'Chip',
    exchanges: 'Round trips',
    apdus: 'APDUs',
    footer: 'kazashi demo: the server (SQLite), the virtual chip and this site all run the real protocol.',
    stepRegister: 'City hall signed and sealed a command and registered it ({ops} operations)',
    stepRelay: 'The common app talked to the chip ({apdus} APDUs, {exchanges} round trips to the server)',
    stepVerifyBrowser: 'This browser checked the server’s signature on the result',
    stepVerifyBackend: 'City hall’s backend checked the result too',
    stepRejected: 'This browser refused the result',
    stepFailed: 'Error',
    verifiedOk: '✓ Verified: the server’s signature is valid and the chip did every operation.',
    verifiedFailed: '△ The signature is valid, but the chip refused an operation: {reason}',
    rejected: '✗ Refused: the result was changed on its way ({code}). Nothing from it is shown.',
    error: 'Something went wrong: {message}',
    working: 'Working… please keep your phone where it is.',
    certificate: 'E-certificate',
    name: 'Name',
    born: 'Born',
    address: 'Address',
    serial: 'Serial',
    keyOnChip: 'Key in the chip',
    points: 'Points balance',
    memberCard: 'Member card',
    number: 'Member number',
    tier: 'Tier',
    noCard: 'No member card yet. Add points first.',
    notEnough: 'Not enough points.',
    ms: '{ms} ms',
  },
};

let current = 'ja';

export function language() {
  return current;
}

export function t(key, values = {}) {
  const text = messages[current][key] ?? messages.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ''));
}

/** Sets the language and rewrites every `data-i18n` element. */
export function setLanguage(lang) {
  current = Object.hasOwn(messages, lang) ? lang : 'en';
  document.documentElement.lang = current;
  for (const element of document.querySelectorAll('[data-i18n]')) {
    element.textContent = t(element.dataset.i18n);
  }
  document.getElementById('lang').textContent = t('langButton');
  document.title = `${t('city')} — kazashi demo`;
  try {
    localStorage.setItem('kazashi-demo-lang', current);
  } catch {
    // Private mode: the choice lasts for this page only.
  }
}

export function initialLanguage() {
  const url = new URL(location.href).searchParams.get('lang');
  if (url) return url;
  try {
    const saved = localStorage.getItem('kazashi-demo-lang');
    if (saved) return saved;
  } catch {
    // ignore
  }
  return (navigator.language || 'ja').toLowerCase().startsWith('ja') ? 'ja' : 'en';
}
