/**
 * Cross-site-scripting detector: one forward scan of the value that tokenises it in the contexts a
 * payload can execute in —
 *  - `html`: tags (`<script`, `<iframe`, `<svg/onload=…>`, `<img src=x onerror=…>`), their attributes
 *    (event handlers, URL attributes, `style`, `srcdoc`), closing tags that leave a raw-text element
 *    (`</script>`), declarations (`<!ENTITY … SYSTEM`), processing instructions (`<?import`) and
 *    server-side includes (`<!--#exec`);
 *  - `attribute`: attribute breakouts without a tag (`" onmouseover=alert(1) "`, `'formaction=`);
 *  - `url`: `javascript:`, `vbscript:`, `data:text/html` … schemes in URL position (tabs, newlines and
 *    control characters inside the scheme are ignored, as browsers do);
 *  - `js`: string breakouts followed by a sink call (`";alert(1)//`), sink calls as the whole value,
 *    obfuscated access to globals (`self["alert"]`, `document/**\/.cookie`), JSFuck, tagged-template
 *    calls (`` [].sort.call`${alert}` ``);
 *  - `css`: `expression(`, `-moz-binding`, `behavior:`, `url(javascript:…)`;
 *  - `template`: AngularJS sandbox escapes (`{{constructor.constructor('…')()}}`) — generic `{{7*7}}`
 *    template injection belongs to the template detector (`code`);
 *  - `xml`: external entities (`<!ENTITY x SYSTEM …`), XInclude, external schema locations.
 *
 * Residual encodings are undone first, on a copy and only when present: HTML entities (with or
 * without `;`), JS `\xHH` / `\uHHHH` escapes, IIS `%uHHHH`, fullwidth forms, UTF-7 `+ADw-` and the
 * 7-bit `¼script¾` folding.
 *
 * Paranoia: 1 = executable markup or script (dangerous tags with attributes or content, event
 * handlers, script URLs, proof-of-execution calls and evaluators fed a string in code position,
 * obfuscated globals); 2 = active markup without a payload (`<img src=…>`, `<svg>`, a bare
 * `<script>` or `<object>` mentioned in documentation, unknown `on…=`, sinks and DOM properties in
 * prose or ordinary code such as `setTimeout(function () {…})`); 3 = harmless markup (`<b>`, `<p>`,
 * `a<b and c>d`, `-->`, `">`); 4 = any entity- or escape-encoded text. Markdown is benign: images
 * `![](…)` are not JSFuck, backticks closing a code span open no template.
 *
 * Bounds: only the first `maxLength` characters (default 64 KiB) are inspected. The scan is linear:
 * every look-back or look-ahead is bounded by a small constant, attribute values and quoted strings
 * are found with `indexOf`, and a failed search is remembered so it is never repeated.
 */

export interface XssResult {
  /** where the payload would run: 'html' | 'attribute' | 'url' | 'js' | 'css' | 'template' | 'xml' */
  context: string;
  /** lowest paranoia level at which this is reported (1 = high confidence) */
  paranoia: 1 | 2 | 3 | 4;
  /** short reason for the log, e.g. "event handler on <img>" */
  reason: string;
}

type Level = 1 | 2 | 3 | 4;

/** Default number of characters inspected. */
export const XSS_MAX_LENGTH = 65536;

// ---------------------------------------------------------------------------------------------
// Vocabulary

/** Tags that execute or load active content on their own. */
const DANGER_TAGS = new Set([
  'script', 'iframe', 'frame', 'frameset', 'object', 'embed', 'applet', 'base', 'meta', 'link', 'style', 'vmlframe',
  'import', 'xml', 'isindex', 'portal', 'xss', 'layer', 'ilayer', 'bgsound', 'xmp', 'plaintext', 'listing', 'include',
]);

/** Tags that can run script through an attribute, or make an element clickable/loadable. */
const ACTIVE_TAGS = new Set([
  'img', 'image', 'video', 'audio', 'source', 'track', 'input', 'button', 'body', 'html', 'details', 'marquee', 'select',
  'textarea', 'keygen', 'svg', 'math', 'form', 'a', 'area', 'table', 'td', 'animate', 'set', 'animatetransform',
  'animatemotion', 'foreignobject', 'use', 'noscript', 'template', 'dialog', 'object', 'picture', 'canvas', 'map',
  'option', 'label', 'fieldset', 'output', 'meter', 'progress', 'title', 'head', 'blink', 'maction', 'annotation-xml',
]);

/** Formatting tags that are harmless by themselves. */
const HARMLESS_TAGS = new Set([
  'b', 'i', 'u', 'p', 'br', 'hr', 'em', 'strong', 'div', 'span', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li',
  'code', 'pre', 'blockquote', 'small', 'sup', 'sub', 'tr', 'th', 'thead', 'tbody', 'tfoot', 'center', 'font', 'abbr',
  'cite', 'q', 's', 'strike', 'tt', 'kbd', 'mark', 'del', 'ins', 'dl', 'dt', 'dd', 'nav', 'section', 'article', 'header',
  'footer', 'main', 'aside', 'figure', 'figcaption', 'caption', 'col', 'colgroup', 'big', 'wbr', 'samp', 'var', 'time',
]);

/** Attributes whose value is a URL the browser may navigate to or load. */
const URL_ATTRS = new Set([
  'href', 'src', 'action', 'formaction', 'data', 'xlink:href', 'background', 'lowsrc', 'dynsrc', 'poster', 'code',
  'codebase', 'content', 'from', 'to', 'values', 'by', 'ping', 'cite', 'longdesc', 'classid', 'archive', 'icon',
  'xml:base', 'srcset', 'manifest', 'profile', 'usemap', 'folder', 'datasrc', 'imagesrcset', 'xhref', 'target',
]);

/** Real event-handler attribute names (without the `on`). */
const HANDLERS = new Set(
  (
    'abort activate afterprint afterscriptexecute animationcancel animationend animationiteration animationstart auxclick ' +
    'beforeactivate beforecopy beforecut beforedeactivate beforeeditfocus beforeinput beforepaste beforeprint ' +
    'beforescriptexecute beforetoggle beforeunload begin blur bounce canplay canplaythrough cancel change click close ' +
    'contextmenu controlselect copy cuechange cut dblclick deactivate drag dragend dragenter dragexit dragleave dragover ' +
    'dragstart drop durationchange emptied end ended error filterchange finish focus focusin focusout formdata ' +
    'fullscreenchange hashchange help input invalid keydown keypress keyup layoutcomplete load loadeddata ' +
    'loadedmetadata loadend loadstart losecapture message mousedown mouseenter mouseleave mousemove mouseout mouseover ' +
    'mouseup mousewheel move moveend movestart offline online open pagehide pageshow paste pause play playing ' +
    'pointercancel pointerdown pointerenter pointerleave pointermove pointerout pointerover pointerrawupdate pointerup ' +
    'popstate progress propertychange ratechange readystatechange repeat reset resize scroll scrollend search seeked ' +
    'seeking select selectionchange selectstart show start stalled storage submit suspend timeupdate toggle touchcancel ' +
    'touchend touchmove touchstart transitioncancel transitionend transitionrun transitionstart unhandledrejection ' +
    'unload volumechange waiting webkitanimationend webkitanimationiteration webkitanimationstart ' +
    'webkittransitionend webkitplaybacktargetavailabilitychanged webkitmouseforcechanged webkitmouseforcedown ' +
    'webkitmouseforceup webkitmouseforcewillbegin webkitwillrevealbottom wheel zoom datasetchanged rowenter rowexit ' +
    'rowsdelete rowsinserted errorupdate cellchange dataavailable afterupdate beforeupdate scrollsnapchange'
  ).split(' '),
);

/** JavaScript functions that execute code (evaluators) or show a proof of execution. */
const SINKS = new Set(['alert', 'prompt', 'confirm', 'eval', 'settimeout', 'setinterval', 'setimmediate', 'function', 'execscript', 'fromcharcode', 'globaleval', 'atob', 'btoa', 'importscripts']);

/** Global objects whose bracket access (`self["alert"]`) is a filter evasion. */
const GLOBALS = new Set(['window', 'self', 'top', 'parent', 'globalthis', 'document', 'frames', 'this', 'content', 'opener', 'location']);

/** Properties of `document` / `window` / `location` that matter to an attacker. */
const DOM_PROPS = new Set([
  'cookie', 'domain', 'location', 'write', 'writeln', 'body', 'createelement', 'queryselector', 'queryselectorall',
  'getelementbyid', 'getelementsbytagname', 'documentelement', 'head', 'forms', 'referrer', 'url', 'baseuri',
  'defaultview', 'href', 'hash', 'search', 'name', 'open', 'eval', 'opener', 'localstorage', 'sessionstorage',
  'innerhtml', 'outerhtml', 'appendchild', 'execcommand', 'implementation',
]);

/** The DOM properties an exploit reads or writes (cookies, navigation, markup injection). */
const DANGER_PROPS = new Set(['cookie', 'domain', 'location', 'write', 'writeln', 'innerhtml', 'outerhtml', 'localstorage', 'sessionstorage', 'execcommand', 'eval', 'open', 'opener', 'href']);

/** Inside `{{ … }}`: what an AngularJS sandbox escape needs. */
const ANGULAR_NEEDLES = ['constructor', '__proto__', '$eval', '$on.', 'alert(', 'prompt(', 'confirm(', 'eval('];

const DATA_TYPES = ['text/html', 'text/javascript', 'application/javascript', 'application/x-javascript', 'text/xml', 'application/xhtml+xml', 'image/svg+xml', 'text/vbscript', 'application/ecmascript', 'text/ecmascript', 'text/plain;base64,pd', 'application/xml'];

// ---------------------------------------------------------------------------------------------
// Helpers

function isLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isIdent(c: number): boolean {
  return isLetter(c) || isDigit(c) || c === 95 || c === 36;
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 12 || c === 11 || c === 0xa0;
}

function lower(c: number): number {
  return c >= 65 && c <= 90 ? c | 32 : c;
}

/** Case-insensitive comparison of s[at…] with an all-lower-case ASCII word. */
function startsWithI(s: string, at: number, word: string): boolean {
  if (at < 0 || at + word.length > s.length) return false;
  for (let k = 0; k < word.length; k++) if (lower(s.charCodeAt(at + k)) !== word.charCodeAt(k)) return false;
  return true;
}

const NAMED_ENTITIES: Record<string, string> = {
  lt: '<', gt: '>', quot: '"', apos: "'", amp: '&', tab: '\t', newline: '\n', colon: ':', lpar: '(', rpar: ')', sol: '/',
  bsol: '\\', equals: '=', grave: '`', period: '.', comma: ',', semi: ';', excl: '!', num: '#', nbsp: ' ', lbrack: '[',
  rbrack: ']', lsqb: '[', rsqb: ']', lcub: '{', rcub: '}', lbrace: '{', rbrace: '}', plus: '+', quest: '?', ast: '*',
  percnt: '%', dollar: '$', hyphen: '-', dash: '-', lowbar: '_', verbar: '|', vert: '|', commat: '@', hat: '^',
};

interface Normalised {
  s: string;
  /** JS unicode escapes of ASCII letters seen */
  escapes: number;
  /** a `<` came out of an evasive encoding (JS escape, %u, UTF-7, fullwidth, 7-bit folding) */
  evasive: boolean;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 32;
  if (l >= 97 && l <= 102) return l - 87;
  return -1;
}

/** Reads up to `max` hex digits at s[i…]; returns [value, digits]. */
function readHex(s: string, i: number, end: number, max: number): [number, number] {
  let v = 0;
  let n = 0;
  while (n < max && i + n < end) {
    const h = hexVal(s.charCodeAt(i + n));
    if (h < 0) break;
    v = v * 16 + h;
    n++;
  }
  return [v, n];
}

function needsNormalising(s: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 38 || c === 92 || c === 0 || c === 0xbc || c === 0xbe || (c >= 0xff01 && c <= 0xff5e)) return true;
    // `+ADw-` (UTF-7), also lower-cased as the engine's normaliser hands it over (`+adw-`).
    if ((c === 37 && i + 1 < end && (s.charCodeAt(i + 1) | 32) === 117) || (c === 43 && i + 1 < end && (s.charCodeAt(i + 1) | 32) === 97)) return true;
  }
  return false;
}

/** Undoes residual encodings (one layer each). Only called when `needsNormalising` says so. */
function normalise(s: string, end: number): Normalised {
  let out = '';
  let escapes = 0;
  let evasive = false;
  let i = 0;
  let flushed = 0;
  const emit = (from: number, text: string, next: number, entity = false): void => {
    if (text === '<' && !entity) evasive = true;
    out += s.slice(flushed, from) + text;
    flushed = next;
    i = next;
  };
  while (i < end) {
    const c = s.charCodeAt(i);
    if (c === 38) {
      // &name; &#NN; &#xHH; (semicolon optional, as browsers accept)
      const n1 = i + 1 < end ? s.charCodeAt(i + 1) : 0;
      if (n1 === 35) {
        const hex = i + 2 < end && (s.charCodeAt(i + 2) | 32) === 120;
        let j = i + (hex ? 3 : 2);
        let v = 0;
        let digits = 0;
        while (j < end && digits < 8) {
          const d = hex ? hexVal(s.charCodeAt(j)) : isDigit(s.charCodeAt(j)) ? s.charCodeAt(j) - 48 : -1;
          if (d < 0) break;
          v = v * (hex ? 16 : 10) + d;
          j++;
          digits++;
        }
        if (digits > 0 && v < 0x110000) {
          if (j < end && s.charCodeAt(j) === 59) j++;
          emit(i, String.fromCodePoint(v === 0 ? 32 : v), j, true);
          continue;
        }
      } else if (isLetter(n1)) {
        let j = i + 1;
        while (j < end && j < i + 10 && isLetter(s.charCodeAt(j))) j++;
        const name = s.slice(i + 1, j).toLowerCase();
        const rep = NAMED_ENTITIES[name];
        if (rep !== undefined && (j < end && s.charCodeAt(j) === 59 ? true : name.length <= 4 || name === 'newline' || name === 'colon')) {
          emit(i, rep, j < end && s.charCodeAt(j) === 59 ? j + 1 : j, true);
          continue;
        }
      }
    } else if (c === 92 && i + 1 < end) {
      // \xHH \uHHHH \u{H…}
      const n1 = s.charCodeAt(i + 1) | 32;
      if (n1 === 120) {
        const [v, n] = readHex(s, i + 2, end, 2);
        if (n === 2) {
          // 7-bit folding of escaped bytes too: \xbc → <, \xbe → >
          emit(i, v === 0xbc ? '<' : v === 0xbe ? '>' : String.fromCharCode(v), i + 4);
          continue;
        }
      } else if (n1 === 117) {
        if (i + 2 < end && s.charCodeAt(i + 2) === 123) {
          const [v, n] = readHex(s, i + 3, end, 6);
          if (n > 0 && i + 3 + n < end && s.charCodeAt(i + 3 + n) === 125 && v < 0x110000) {
            if (v < 128 && isLetter(v)) escapes++;
            emit(i, String.fromCodePoint(v), i + 4 + n);
            continue;
          }
        } else {
          const [v, n] = readHex(s, i + 2, end, 4);
          if (n === 4) {
            if (v < 128 && isLetter(v)) escapes++;
            emit(i, String.fromCharCode(v), i + 6);
            continue;
          }
        }
      }
    } else if (c === 37 && i + 5 < end && (s.charCodeAt(i + 1) | 32) === 117) {
      // IIS %uHHHH
      const [v, n] = readHex(s, i + 2, end, 4);
      if (n === 4) {
        emit(i, String.fromCharCode(v >= 0xff01 && v <= 0xff5e ? v - 0xfee0 : v), i + 6);
        continue;
      }
    } else if (c === 43 && i + 4 < end && (s.charCodeAt(i + 1) | 32) === 97 && ((s.charCodeAt(i + 2) | 32) === 100 || (s.charCodeAt(i + 2) | 32) === 99) && s.charCodeAt(i + 4) === 45) {
      // UTF-7 +ADw- +AD4- +ACI- +ACc- (any case: the engine's normaliser lower-cases before the detector runs)
      const k = s.charCodeAt(i + 3);
      const d = s.charCodeAt(i + 2) | 32;
      const rep = d === 100 ? (k === 119 ? '<' : k === 52 ? '>' : '') : k === 73 || k === 105 ? '"' : k === 99 ? "'" : '';
      if (rep !== '') {
        emit(i, rep, i + 5);
        continue;
      }
    } else if (c >= 0xff01 && c <= 0xff5e) {
      // fullwidth forms fold to ASCII
      emit(i, String.fromCharCode(c - 0xfee0), i + 1);
      continue;
    } else if ((c === 0xbc || c === 0xbe) && !(i > 0 && s.charCodeAt(i - 1) >= 0xc0 && s.charCodeAt(i - 1) <= 0xdf)) {
      // 7-bit folding: ¼ → <, ¾ → > (not the second byte of a UTF-8 pair read as Latin-1)
      emit(i, c === 0xbc ? '<' : '>', i + 1);
      continue;
    } else if (c === 0) {
      emit(i, '', i + 1);
      continue;
    }
    i++;
  }
  out += s.slice(flushed, end);
  return { s: out, escapes, evasive };
}

// ---------------------------------------------------------------------------------------------
// The scanner

class Scan {
  readonly s: string;
  readonly end: number;
  best: XssResult | null = null;
  /** backticks seen so far (markdown code spans come in pairs) */
  ticks = 0;
  /** the text had a `<` hidden by an evasive encoding */
  evasive = false;
  /** positions from which a search for `"` / `'` is known to fail */
  private noDq = Number.MAX_SAFE_INTEGER;
  private noSq = Number.MAX_SAFE_INTEGER;

  constructor(s: string) {
    this.s = s;
    this.end = s.length;
  }

  hit(paranoia: Level, context: string, reason: string): void {
    if (this.best === null || paranoia < this.best.paranoia) this.best = { context, paranoia, reason };
  }

  done(): boolean {
    return this.best !== null && this.best.paranoia === 1;
  }

  private readonly nextCache = new Map<string, [number, number]>();

  /**
   * indexOf with a memory: the answer for `from` is reused for any later `from` up to the found
   * index, so repeated look-aheads for the same needle cost linear time in total.
   */
  next(needle: string, from: number): number {
    const c = this.nextCache.get(needle);
    if (c !== undefined && from >= c[0] && (c[1] < 0 || from <= c[1])) return c[1];
    const k = this.s.indexOf(needle, from);
    this.nextCache.set(needle, [from, k]);
    return k;
  }

  /** indexOf for a quote character, remembering failures (keeps the scan linear). */
  findQuote(q: number, from: number): number {
    if (q === 34 && from >= this.noDq) return -1;
    if (q === 39 && from >= this.noSq) return -1;
    const k = this.s.indexOf(q === 34 ? '"' : q === 39 ? "'" : '`', from);
    if (k < 0) {
      if (q === 34) this.noDq = Math.min(this.noDq, from);
      if (q === 39) this.noSq = Math.min(this.noSq, from);
    }
    return k;
  }

  run(): void {
    const s = this.s;
    const end = this.end;
    for (let i = 0; i < end && !this.done(); i++) {
      const c = s.charCodeAt(i);
      switch (c) {
        case 60: // <
          i = this.tag(i) - 1;
          break;
        case 58: // :
          this.scheme(i);
          this.cssProperty(i);
          break;
        case 61: // =
          this.handlerOutsideTag(i);
          break;
        case 40: // (
          this.call(i);
          break;
        case 96: // `
          // a backtick closing a markdown code span (odd count before it) opens no template
          if ((this.ticks++ & 1) === 0) this.call(i);
          break;
        case 91: // [
          this.bracket(i);
          break;
        case 46: // .
          this.dot(i);
          break;
        case 33: // !
          this.jsfuck(i);
          break;
        case 123: // {
          if (i + 1 < end && s.charCodeAt(i + 1) === 123) this.angular(i);
          else if (i > 0 && s.charCodeAt(i - 1) === 36) this.templateSubstitution(i);
          break;
        case 62: // >
          if (i > 0) {
            const p = s.charCodeAt(i - 1);
            if (p === 34 || p === 39) this.hit(3, 'attribute', 'quote closing a tag');
            if (p === 45 && i > 1 && s.charCodeAt(i - 2) === 45) this.hit(3, 'html', 'comment end -->');
          }
          break;
        default:
          break;
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // HTML

  /** Parses markup starting at `<` (index i); returns where the main scan continues. */
  tag(i: number): number {
    const s = this.s;
    const end = this.end;
    const n1 = i + 1 < end ? s.charCodeAt(i + 1) : 0;
    if (n1 === 47) {
      // closing tag: leaving a raw-text element is a JS / markup context breakout
      let j = i + 2;
      while (j < end && j < i + 2 + 20 && (isLetter(s.charCodeAt(j)) || s.charCodeAt(j) === 58)) j++;
      const name = s.slice(i + 2, j).toLowerCase();
      if (name === 'script') this.hit(1, 'html', 'closing </script> tag');
      else if (name === 'style' || name === 'textarea' || name === 'title' || name === 'noscript' || name === 'xmp' || name === 'iframe' || name === 'noembed' || name === 'template') {
        this.hit(2, 'html', `closing </${name}> tag`);
      } else if (name.length > 0) this.hit(HARMLESS_TAGS.has(name) ? 3 : 2, 'html', 'closing tag');
      return i + 1;
    }
    if (n1 === 33) {
      // <!-- … --> <!ENTITY … > <!DOCTYPE
      if (startsWithI(s, i + 2, '--')) {
        if (i + 4 < end && s.charCodeAt(i + 4) === 35 && (startsWithI(s, i + 5, 'exec') || startsWithI(s, i + 5, 'include') || startsWithI(s, i + 5, 'set') || startsWithI(s, i + 5, 'echo') || startsWithI(s, i + 5, 'config'))) {
          this.hit(1, 'html', 'server-side include directive');
        } else this.hit(3, 'html', 'HTML comment');
        return i + 1;
      }
      if (startsWithI(s, i + 2, 'entity')) {
        this.entity(i + 8);
        return i + 1;
      }
      if (startsWithI(s, i + 2, 'doctype')) this.hit(s.indexOf('[', i) > 0 && s.indexOf('[', i) < i + 200 ? 2 : 3, 'xml', 'DOCTYPE declaration');
      if (startsWithI(s, i + 2, '[cdata[')) this.hit(2, 'xml', 'CDATA section');
      return i + 1;
    }
    if (n1 === 63) {
      // <?import implementation=…>, <?xml-stylesheet …?>
      if (startsWithI(s, i + 2, 'import')) this.hit(1, 'html', '<?import processing instruction');
      else if (startsWithI(s, i + 2, 'xml-stylesheet')) this.hit(1, 'xml', 'xml-stylesheet processing instruction');
      else this.hit(3, 'xml', 'processing instruction');
      return i + 1;
    }
    // tag name: letters, digits, ':' (namespaces), '-' (custom elements); `<:vmlframe` too
    let j = i + 1;
    if (!(isLetter(n1) || (n1 === 58 && i + 2 < end && isLetter(s.charCodeAt(i + 2))))) {
      if (n1 === 32 || n1 === 9) this.splitName(i + 1, true);
      return i + 1;
    }
    while (j < end && j < i + 1 + 64) {
      const c = s.charCodeAt(j);
      if (isLetter(c) || isDigit(c) || c === 58 || c === 45 || c === 95 || c === 46) j++;
      else break;
    }
    let name = s.slice(i + 1, j).toLowerCase();
    const colon = name.lastIndexOf(':');
    const local = colon >= 0 ? name.slice(colon + 1) : name;
    if (name.length === 1 && j < end && s.charCodeAt(j) === 32 && this.splitName(i + 1, false)) return i + 1;
    if (name === 'xi:include' || local === 'include' && name.startsWith('xi')) {
      this.hit(1, 'xml', 'XInclude element');
    }
    name = local;
    // attributes
    const ctx = { handler: false, urlScript: false, style: false, srcdoc: false, refresh: false, any: 0, schemaLocation: false };
    const next = this.attributes(j, ctx);
    if (this.done()) return next;
    const endsTag = next <= end && (next === end || s.charCodeAt(next - 1) === 62);
    const resume = j;
    if (ctx.handler) this.hit(1, 'html', `event handler on <${name}>`);
    if (ctx.urlScript) this.hit(1, 'html', `script URL in <${name}> attribute`);
    if (ctx.style) this.hit(1, 'css', `script in style attribute of <${name}>`);
    if (ctx.srcdoc) this.hit(1, 'html', 'markup in srcdoc attribute');
    if (DANGER_TAGS.has(name) || name.startsWith('import')) {
      // `<script src=…>`, `<script>alert(1)`, `<script><img>` are attacks; "`<script>`" or
      // "`<Object>`" in documentation is a mention
      const attack = ctx.any > 0 || !endsTag || this.evasive || name.startsWith('import') || this.activeContent(next, name);
      this.hit(attack ? 1 : 2, 'html', `<${name}> tag`);
    } else if (ACTIVE_TAGS.has(name)) {
      this.hit(ctx.any > 0 || endsTag || name.length > 2 ? 2 : 3, 'html', `<${name}> tag`);
    } else if (HARMLESS_TAGS.has(name)) {
      this.hit(3, 'html', 'formatting tag');
    } else if (ctx.any > 0 && endsTag) {
      this.hit(2, 'html', 'unknown tag with attributes');
    } else {
      this.hit(endsTag ? 3 : 4, 'html', 'tag-like text');
    }
    if (ctx.schemaLocation) this.hit(1, 'xml', 'external schema location');
    // attribute values are scanned again by the main loop (a breakout may hide in one); linear,
    // because same-quote attribute values never overlap and failed quote searches are remembered
    return resume;
  }

  /** After a tag without attributes: does content follow (code, markup), rather than the end of a mention? */
  activeContent(from: number, name: string): boolean {
    const s = this.s;
    let k = from;
    while (k < this.end && k < from + 8 && isSpace(s.charCodeAt(k))) k++;
    if (k >= this.end) return false;
    const c = s.charCodeAt(k);
    if (c === 96 || c === 34 || c === 39 || c === 41 || c === 44 || c === 46) return false;
    if (c === 60) return true;
    const content = s.slice(k, Math.min(this.end, k + 64));
    if (name === 'style') return c === 64 || c === 61 || c === 92 || content.includes('{');
    return jsLike(content);
  }

  /** `<f o r m`: a tag name spelt with spaces (a filter evasion of old browsers' lax parsers). */
  splitName(from: number, leadingSpace: boolean): boolean {
    const s = this.s;
    let j = from;
    let letters = '';
    while (j < this.end && letters.length < 12) {
      const c = s.charCodeAt(j);
      if (isLetter(c)) {
        if (j + 1 < this.end && isLetter(s.charCodeAt(j + 1))) break;
        letters += String.fromCharCode(lower(c));
        j++;
      } else if (c === 32 || c === 9) j++;
      else break;
    }
    if (letters.length >= 3 && (DANGER_TAGS.has(letters) || ACTIVE_TAGS.has(letters))) {
      this.hit(leadingSpace ? 3 : 1, 'html', 'tag name split by spaces');
      return true;
    }
    return false;
  }

  /** Parses attributes from j; returns the index after the tag (after `>`), or where parsing stopped. */
  attributes(
    start: number,
    ctx: { handler: boolean; urlScript: boolean; style: boolean; srcdoc: boolean; refresh: boolean; any: number; schemaLocation: boolean },
  ): number {
    const s = this.s;
    const end = this.end;
    let j = start;
    for (let guard = 0; guard < 64 && j < end; guard++) {
      // separators
      while (j < end && (isSpace(s.charCodeAt(j)) || s.charCodeAt(j) === 47 || s.charCodeAt(j) === 34 || s.charCodeAt(j) === 39)) j++;
      if (j >= end) return end;
      const c = s.charCodeAt(j);
      if (c === 62) return j + 1;
      if (c === 60) return j;
      // name
      const n0 = j;
      while (j < end && j < n0 + 64) {
        const d = s.charCodeAt(j);
        if (isSpace(d) || d === 61 || d === 62 || d === 47 || d === 60) break;
        j++;
      }
      if (j === n0) {
        j++;
        continue;
      }
      const name = s.slice(n0, j).toLowerCase();
      let k = j;
      while (k < end && isSpace(s.charCodeAt(k))) k++;
      // `<link / asdf href  /= ` — a slash may separate name and '='
      if (k < end && s.charCodeAt(k) === 47 && k + 1 < end && s.charCodeAt(k + 1) === 61) k++;
      let value = '';
      let hasValue = false;
      if (k < end && s.charCodeAt(k) === 61) {
        hasValue = true;
        k++;
        while (k < end && isSpace(s.charCodeAt(k))) k++;
        const q = k < end ? s.charCodeAt(k) : 0;
        if (q === 34 || q === 39 || q === 96) {
          const close = this.findQuote(q, k + 1);
          const stop = close < 0 ? end : close;
          value = s.slice(k + 1, Math.min(stop, k + 1 + 2048));
          j = close < 0 ? end : close + 1;
        } else {
          let e = k;
          while (e < end && !isSpace(s.charCodeAt(e)) && s.charCodeAt(e) !== 62) e++;
          value = s.slice(k, Math.min(e, k + 2048));
          j = e;
        }
      } else {
        j = k;
      }
      ctx.any++;
      this.attribute(name, value, hasValue, ctx);
    }
    return j;
  }

  attribute(
    name: string,
    value: string,
    hasValue: boolean,
    ctx: { handler: boolean; urlScript: boolean; style: boolean; srcdoc: boolean; refresh: boolean; any: number; schemaLocation: boolean },
  ): void {
    if (name.length > 2 && name.charCodeAt(0) === 111 && name.charCodeAt(1) === 110 && hasValue) {
      const h = name.slice(2);
      if (HANDLERS.has(h) || /^[a-z]+$/.test(h) && jsLike(value)) ctx.handler = true;
      else if (/^[a-z]+$/.test(h)) this.hit(2, 'html', 'on* attribute');
    }
    if (!hasValue) return;
    if (URL_ATTRS.has(name) || name.endsWith(':href')) {
      if (scriptUrl(value) > 0) ctx.urlScript = true;
    }
    if (name === 'style') {
      const v = value.toLowerCase();
      if (cssDanger(v)) ctx.style = true;
    }
    if (name === 'srcdoc' && value.indexOf('<') >= 0) ctx.srcdoc = true;
    if (name.endsWith('schemalocation') || (name.startsWith('xmlns') && (value.includes('XInclude') || value.includes('xinclude')))) {
      if (value.includes('XInclude') || value.includes('xinclude')) this.hit(1, 'xml', 'XInclude namespace');
      else ctx.schemaLocation = true;
    }
    if (name === 'language' && /jscript|vbscript/i.test(value)) ctx.urlScript = true;
  }

  /** `<!ENTITY % x SYSTEM "http://…">`: an external entity (XXE). */
  entity(from: number): void {
    const s = this.s;
    const stop = Math.min(this.end, from + 256);
    const seg = s.slice(from, stop).toUpperCase();
    if (seg.includes('SYSTEM') || seg.includes('PUBLIC') || seg.trimStart().startsWith('%')) this.hit(1, 'xml', 'external entity declaration');
    else this.hit(2, 'xml', 'entity declaration');
  }

  // ------------------------------------------------------------------------------------------
  // Attribute breakouts without a tag

  /** At `=`: is it `on<event>=` after a quote, a space or a slash? */
  handlerOutsideTag(i: number): void {
    const s = this.s;
    let j = i - 1;
    while (j >= 0 && j > i - 4 && isSpace(s.charCodeAt(j))) j--;
    const nameEnd = j + 1;
    while (j >= 0 && nameEnd - j <= 48 && isLetter(s.charCodeAt(j))) j--;
    const nameStart = j + 1;
    const len = nameEnd - nameStart;
    if (len < 3 || nameEnd - nameStart > 47) {
      if (len >= 4 && (startsWithI(s, nameStart, 'formaction') || startsWithI(s, nameStart, 'srcdoc')) && this.quoteBefore(nameStart)) {
        this.hit(2, 'attribute', 'URL attribute after a quote');
      }
      return;
    }
    const before = j >= 0 ? s.charCodeAt(j) : -1;
    // the name must stand on its own: start, space, quote, slash, semicolon, '<'
    if (before >= 0 && (isLetter(before) || isDigit(before) || before === 95 || before === 45 || before === 46)) return;
    const name = s.slice(nameStart, nameEnd).toLowerCase();
    if (name === 'formaction' || name === 'srcdoc' || name === 'xlink') {
      if (this.quoteBefore(nameStart) || before === 60) this.hit(name === 'formaction' ? 1 : 2, 'attribute', `${name} attribute after a quote`);
      return;
    }
    if (!(name.charCodeAt(0) === 111 && name.charCodeAt(1) === 110)) return;
    const event = name.slice(2);
    // the value after '='
    let k = i + 1;
    while (k < this.end && isSpace(s.charCodeAt(k))) k++;
    const value = s.slice(k, Math.min(this.end, k + 200));
    const quoted = this.quoteBefore(nameStart) || before === 60;
    if (HANDLERS.has(event)) {
      if (jsLike(value) || quoted) this.hit(1, 'attribute', `${name} handler outside a tag`);
      else if (value.trim() === '') this.hit(1, 'attribute', `${name}= fragment`);
      else this.hit(2, 'attribute', `${name}= outside a tag`);
    } else if (len >= 5 && (before < 0 || isSpace(before) || before === 34 || before === 39 || before === 47 || before === 59 || before === 60)) {
      this.hit(jsLike(value) && quoted ? 1 : 2, 'attribute', 'on*= attribute outside a tag');
    }
  }

  /** Is the text before `at` (ignoring spaces) a quote, i.e. an attribute breakout? */
  quoteBefore(at: number): boolean {
    let j = at - 1;
    while (j >= 0 && j > at - 8 && (isSpace(this.s.charCodeAt(j)) || this.s.charCodeAt(j) === 47)) j--;
    const c = j >= 0 ? this.s.charCodeAt(j) : -1;
    return c === 34 || c === 39 || c === 96;
  }

  // ------------------------------------------------------------------------------------------
  // URLs

  /** At `:`: a javascript:/vbscript:/data: scheme, letters possibly split by tabs and newlines. */
  scheme(i: number): void {
    const s = this.s;
    let j = i - 1;
    let letters = '';
    let split = false;
    while (j >= 0 && letters.length < 12 && i - j < 64) {
      const c = s.charCodeAt(j);
      if (isLetter(c)) letters = String.fromCharCode(lower(c)) + letters;
      else if ((c === 9 || c === 10 || c === 13) && letters.length > 0) split = true; // browsers drop these inside URLs
      else if (c < 33 && letters.length === 0) {
        /* spaces between scheme and colon are not allowed, but keep scanning for `javascript :` evasions */
      } else break;
      j--;
    }
    // trailing spaces before ':' were skipped: `javascript :` is not a scheme for browsers
    let kind = '';
    if (letters === 'javascript' || letters === 'vbscript' || letters === 'livescript' || letters === 'mocha' || letters === 'ecmascript') kind = letters;
    else if (letters === 'data') kind = 'data';
    else return;
    if (i > 0 && s.charCodeAt(i - 1) < 33 && kind !== 'data') {
      // `javascript :` — not a scheme, but the words are suspicious
      this.hit(3, 'url', 'script scheme words');
      return;
    }
    const b = j >= 0 ? s.charCodeAt(j) : -1;
    if (b >= 0 && (isDigit(b) || b === 95)) return;
    // position: start of the value, after a quote, '=', '(', '>', ',', ';', '[', whitespace
    let p = j;
    while (p >= 0 && isSpace(s.charCodeAt(p))) p--;
    const pc = p >= 0 ? s.charCodeAt(p) : -1;
    const urlPosition = pc < 0 || pc === 34 || pc === 39 || pc === 96 || pc === 61 || pc === 40 || pc === 62 || pc === 44 || pc === 59 || pc === 91 || pc === 123 || pc === 58 || pc === 38 || pc === 63;
    const after = s.slice(i + 1, Math.min(this.end, i + 48));
    if (kind === 'data') {
      const a = after.trimStart().toLowerCase();
      const active = a.startsWith(',') || DATA_TYPES.some((t) => a.startsWith(t));
      if (active && (urlPosition || split)) this.hit(1, 'url', 'data: URL with active content');
      else if (active) this.hit(2, 'url', 'data: URL with active content');
      return;
    }
    if (urlPosition || split) {
      this.hit(1, 'url', `${kind}: URL`);
      return;
    }
    // inside prose: "I love JavaScript: it is fun" is not a URL; `x javascript:alert(1)` is
    const a = after;
    const first = a.length > 0 ? a.charCodeAt(0) : -1;
    if (first < 0) this.hit(3, 'url', `${kind}: scheme at end of text`);
    else if (isSpace(first)) this.hit(3, 'url', `${kind}: in text`);
    else this.hit(1, 'url', `${kind}: URL`);
  }

  // ------------------------------------------------------------------------------------------
  // CSS

  /** At `:`: `-moz-binding:`, `behavior:`, `…:expression(`, `…:url(javascript:`. */
  cssProperty(i: number): void {
    const s = this.s;
    let j = i - 1;
    while (j >= 0 && j > i - 4 && isSpace(s.charCodeAt(j))) j--;
    const e = j + 1;
    while (j >= 0 && e - j < 24 && (isLetter(s.charCodeAt(j)) || s.charCodeAt(j) === 45)) j--;
    const prop = s.slice(j + 1, e).toLowerCase();
    if (prop === '') return;
    let k = i + 1;
    while (k < this.end && isSpace(s.charCodeAt(k))) k++;
    if (prop === '-moz-binding' || prop === 'behavior' || prop === 'behaviour') {
      if (startsWithI(s, k, 'url')) this.hit(1, 'css', `${prop} with a URL`);
      else this.hit(2, 'css', prop);
      return;
    }
    if (startsWithI(s, k, 'expression')) {
      let m = k + 10;
      while (m < this.end && isSpace(s.charCodeAt(m))) m++;
      if (m < this.end && s.charCodeAt(m) === 40) this.hit(1, 'css', 'CSS expression()');
    }
  }

  // ------------------------------------------------------------------------------------------
  // JavaScript

  /** At `(` or a backtick: a call of a sink such as `alert(`, `eval(`, `` alert`1` ``, `.call`…`` ``. */
  call(i: number): void {
    const s = this.s;
    let j = i - 1;
    while (j >= 0 && j > i - 4 && isSpace(s.charCodeAt(j))) j--;
    const e = j + 1;
    while (j >= 0 && e - j <= 32 && isIdent(s.charCodeAt(j))) j--;
    if (j + 1 === e) return;
    const name = s.slice(j + 1, e).toLowerCase();
    const tight = e === i;
    const before = j >= 0 ? s.charCodeAt(j) : -1;
    const isTemplate = s.charCodeAt(i) === 96;
    if (isTemplate && (i + 1 >= this.end || isSpace(s.charCodeAt(i + 1)))) return;
    if (isTemplate && before === 46 && (name === 'call' || name === 'apply' || name === 'bind')) {
      this.hit(1, 'js', `tagged template .${name}\``);
      return;
    }
    if (before === 46) {
      // member call: document.write(…), String.fromCharCode(…), window.eval(…)
      const obj = this.identBefore(j);
      if (name === 'fromcharcode' || ((name === 'write' || name === 'writeln') && obj === 'document') || (GLOBALS.has(obj) && (name === 'eval' || name === 'alert' || name === 'settimeout' || name === 'setinterval' || name === 'execscript'))) {
        this.hit(this.codePosition(j - obj.length) ? 1 : 2, 'js', `${obj}.${name}() call`);
      }
      return;
    }
    if (before >= 0 && isIdent(before)) return;
    if (name === 'url' && s.charCodeAt(i) === 40) {
      let k = i + 1;
      while (k < this.end && k < i + 8 && (isSpace(s.charCodeAt(k)) || s.charCodeAt(k) === 34 || s.charCodeAt(k) === 39)) k++;
      if (startsWithI(s, k, 'javascript') || startsWithI(s, k, 'vbscript')) this.hit(1, 'css', 'url() with a script scheme');
      return;
    }
    if (name === 'expression' && tight) {
      this.hit(this.styleBefore(j) ? 1 : 3, 'css', 'CSS expression()');
      return;
    }
    if (!SINKS.has(name)) return;
    if (name === 'function') {
      // `new Function(` — the constructor, not a declaration
      let k = j;
      while (k >= 0 && isSpace(s.charCodeAt(k))) k--;
      if (!(k >= 2 && startsWithI(s, k - 2, 'new'))) return;
      j = k - 3;
    }
    if (!tight && !isTemplate) return;
    // proof-of-execution calls are attacks in code position; evaluators only with code in a string
    const proof = name === 'alert' || name === 'prompt' || name === 'confirm';
    const evaluator = name === 'eval' || name === 'function' || name === 'execscript' || name === 'settimeout' || name === 'setinterval' || name === 'setimmediate' || name === 'globaleval' || name === 'importscripts';
    const stringArg = isTemplate || this.stringArgument(i + 1);
    const callback = startsWithI(s, this.skipJsSpace(i + 1), 'function') || s.charCodeAt(this.skipJsSpace(i + 1)) === 40;
    const atStart = this.skipJsSpaceBack(j) < 0 && !callback;
    if (this.breakoutBefore(j + 1) && (proof || stringArg)) this.hit(1, 'js', `string breakout then ${name}()`);
    else if (proof && this.codePosition(j + 1)) this.hit(1, 'js', `${name}() call`);
    else if (evaluator && stringArg && this.codePosition(j + 1)) this.hit(1, 'js', `${name}() with code in a string`);
    else if (atStart) this.hit(1, 'js', `${name}() call`);
    else this.hit(2, 'js', `${name}() in code or text`);
  }

  /** Does the argument list starting at k begin with a string, a template or a decoder call? */
  stringArgument(k: number): boolean {
    const s = this.s;
    while (k < this.end && isSpace(s.charCodeAt(k))) k++;
    const c = k < this.end ? s.charCodeAt(k) : -1;
    if (c === 34 || c === 39 || c === 96) return true;
    return startsWithI(s, k, 'atob') || startsWithI(s, k, 'unescape') || startsWithI(s, k, 'decodeuri') || startsWithI(s, k, 'string.fromcharcode') || startsWithI(s, k, 'location.') || startsWithI(s, k, 'name');
  }

  /** The identifier that ends at index `dot - 1` (`document` in `document.write`). */
  identBefore(dot: number): string {
    let j = dot - 1;
    while (j >= 0 && dot - j < 24 && isIdent(this.s.charCodeAt(j))) j--;
    return this.s.slice(j + 1, dot).toLowerCase();
  }

  /** Is position `at` the start of a code statement: start of value, or after `;` `{` `(` `=` `,` `:` `&` `|` `?` `+`? */
  codePosition(at: number): boolean {
    let j = at - 1;
    while (j >= 0 && at - j < 8 && isSpace(this.s.charCodeAt(j))) j--;
    if (j < 0) return true;
    const c = this.s.charCodeAt(j);
    return c === 59 || c === 123 || c === 40 || c === 61 || c === 44 || c === 58 || c === 38 || c === 124 || c === 63 || c === 43 || c === 125 || c === 62 || c === 91 || c === 33 || c === 45 || c === 96;
  }

  /** A JS string breakout right before `at`: a quote followed by `;` `)` `+` `-` `,` `}` … */
  breakoutBefore(at: number): boolean {
    let j = at - 1;
    let sawOp = false;
    while (j >= 0 && at - j < 16) {
      const c = this.s.charCodeAt(j);
      if (isSpace(c)) {
        j--;
        continue;
      }
      if (c === 59 || c === 41 || c === 43 || c === 45 || c === 44 || c === 125 || c === 93 || c === 124 || c === 38 || c === 42 || c === 47 || c === 94 || c === 61 || c === 63 || c === 58 || c === 60 || c === 62) {
        sawOp = true;
        j--;
        continue;
      }
      if ((c === 34 || c === 39 || c === 96) && sawOp) return true;
      return false;
    }
    return false;
  }

  /** Is there a `style` attribute or `:` property context shortly before? */
  styleBefore(at: number): boolean {
    let j = at;
    while (j >= 0 && at - j < 8 && isSpace(this.s.charCodeAt(j))) j--;
    return j >= 0 && this.s.charCodeAt(j) === 58;
  }

  /** At `[`: `self["alert"]`, `(document)["cookie"]`, `window /*x*\/ ["document"]`. */
  bracket(i: number): void {
    const s = this.s;
    let k = i + 1;
    k = this.skipJsSpace(k);
    const q = k < this.end ? s.charCodeAt(k) : -1;
    if (q !== 34 && q !== 39) return;
    let j = this.skipJsSpaceBack(i - 1);
    if (j >= 0 && s.charCodeAt(j) === 41) j = this.skipJsSpaceBack(j - 1);
    const e = j + 1;
    while (j >= 0 && e - j < 16 && isIdent(s.charCodeAt(j))) j--;
    const obj = s.slice(j + 1, e).toLowerCase();
    if (GLOBALS.has(obj)) this.hit(1, 'js', `bracket access on ${obj}`);
  }

  /** At `.`: `document.cookie`, `window.location`, `document /*x*\/ . cookie`. */
  dot(i: number): void {
    const s = this.s;
    const j0 = this.skipJsSpaceBack(i - 1);
    let j = j0;
    const e = j + 1;
    while (j >= 0 && e - j < 16 && isIdent(s.charCodeAt(j))) j--;
    const obj = s.slice(j + 1, e).toLowerCase();
    if (obj !== 'document' && obj !== 'window' && obj !== 'location' && obj !== 'top' && obj !== 'self' && obj !== 'parent') return;
    const before = j >= 0 ? s.charCodeAt(j) : -1;
    if (before >= 0 && (isIdent(before) || before === 47 || before === 46 || before === 45)) return;
    const k0 = this.skipJsSpace(i + 1);
    let k = k0;
    while (k < this.end && k - k0 < 24 && isIdent(s.charCodeAt(k))) k++;
    const prop = s.slice(k0, k).toLowerCase();
    if (!DOM_PROPS.has(prop)) return;
    const obfuscated = j0 !== i - 1 || k0 !== i + 1;
    // what follows the property: code (`(`, `.`, `=`, `;`, end …) or prose
    let m = k;
    while (m < this.end && m < k + 4 && isSpace(s.charCodeAt(m))) m++;
    const f = m < this.end ? s.charCodeAt(m) : -1;
    const codeAfter = f < 0 || f === 40 || f === 46 || f === 61 || f === 59 || f === 41 || f === 44 || f === 43 || f === 91 || f === 34 || f === 39 || f === 96 || f === 125;
    if (obfuscated) this.hit(1, 'js', `obfuscated ${obj}.${prop}`);
    else if (this.breakoutBefore(j + 1)) this.hit(1, 'js', `string breakout then ${obj}.${prop}`);
    else if (codeAfter && (j < 0 || (DANGER_PROPS.has(prop) && this.codePosition(j + 1)))) this.hit(1, 'js', `${obj}.${prop}`);
    else this.hit(2, 'js', `${obj}.${prop} in text`);
  }

  skipJsSpace(k: number): number {
    const s = this.s;
    for (let guard = 0; guard < 8 && k < this.end; guard++) {
      while (k < this.end && isSpace(s.charCodeAt(k))) k++;
      if (k + 1 < this.end && s.charCodeAt(k) === 47 && s.charCodeAt(k + 1) === 42) {
        let close = -1;
        for (let m = k + 2; m + 1 < this.end && m < k + 256; m++) {
          if (s.charCodeAt(m) === 42 && s.charCodeAt(m + 1) === 47) {
            close = m;
            break;
          }
        }
        if (close < 0) return k;
        k = close + 2;
      } else break;
    }
    return k;
  }

  skipJsSpaceBack(j: number): number {
    const s = this.s;
    for (let guard = 0; guard < 8 && j >= 0; guard++) {
      while (j >= 0 && isSpace(s.charCodeAt(j))) j--;
      if (j >= 1 && s.charCodeAt(j) === 47 && s.charCodeAt(j - 1) === 42) {
        let open = -1;
        for (let m = j - 2; m >= 1 && m > j - 256; m--) {
          if (s.charCodeAt(m) === 42 && s.charCodeAt(m - 1) === 47) {
            open = m - 1;
            break;
          }
        }
        if (open < 0) return j;
        j = open - 1;
      } else break;
    }
    return j;
  }

  /** At `!`: JSFuck `![]`, `!![]` (but not markdown images `![](…)`). */
  jsfuck(i: number): void {
    const s = this.s;
    if (startsWithI(s, i + 1, 'entity')) {
      this.entity(i + 7);
      return;
    }
    let k = i + 1;
    if (k < this.end && s.charCodeAt(k) === 33) k++;
    while (k < this.end && isSpace(s.charCodeAt(k))) k++;
    if (k + 1 < this.end && s.charCodeAt(k) === 91) {
      let m = k + 1;
      while (m < this.end && isSpace(s.charCodeAt(m))) m++;
      if (m < this.end && s.charCodeAt(m) === 93) {
        const after = m + 1 < this.end ? s.charCodeAt(m + 1) : -1;
        if (after !== 40) this.hit(1, 'js', 'JSFuck');
      }
    }
  }

  /** At `{{`: AngularJS sandbox escapes. */
  angular(i: number): void {
    const close = this.next('}}', i + 2);
    const stop = Math.min(close < 0 ? this.end : close, i + 512);
    for (const needle of ANGULAR_NEEDLES) {
      const k = this.next(needle, i + 2);
      if (k >= 0 && k < stop) {
        this.hit(1, 'template', 'AngularJS sandbox escape');
        return;
      }
    }
  }

  /** At `${`: a template substitution naming a sink, as in `` call`${alert}` ``. */
  templateSubstitution(i: number): void {
    const s = this.s;
    let k = i + 1;
    while (k < this.end && isSpace(s.charCodeAt(k))) k++;
    const e0 = k;
    while (k < this.end && k - e0 < 24 && (isIdent(s.charCodeAt(k)) || s.charCodeAt(k) === 46)) k++;
    const name = s.slice(e0, k).toLowerCase();
    const last = name.slice(name.lastIndexOf('.') + 1);
    if (SINKS.has(last) || last === 'navigate') this.hit(1, 'js', 'sink in template substitution');
  }
}

/** Does an attribute value look like JavaScript (a call, an assignment, a template)? */
function jsLike(v: string): boolean {
  const n = Math.min(v.length, 200);
  for (let i = 0; i < n; i++) {
    const c = v.charCodeAt(i);
    if (c === 40 || c === 96 || c === 61 || c === 59 || c === 91) return true;
    if (c === 46 && i + 1 < n && isLetter(v.charCodeAt(i + 1)) && i > 0 && isLetter(v.charCodeAt(i - 1))) return true;
  }
  return false;
}

/** 1 when a URL attribute value uses a script scheme (after removing what browsers ignore), 0 otherwise. */
function scriptUrl(v: string): number {
  let letters = '';
  let i = 0;
  const n = Math.min(v.length, 256);
  while (i < n && letters.length < 16) {
    const c = v.charCodeAt(i);
    if (isLetter(c)) letters += String.fromCharCode(lower(c));
    else if (c <= 32 && c !== 0) {
      /* tabs, newlines, leading spaces and controls are ignored */
    } else break;
    i++;
  }
  if (i >= n || v.charCodeAt(i) !== 58) return 0;
  if (letters === 'javascript' || letters === 'vbscript' || letters === 'livescript' || letters === 'mocha') return 1;
  if (letters === 'data') {
    const rest = v.slice(i + 1, i + 40).trimStart().toLowerCase();
    if (rest.startsWith(',') || DATA_TYPES.some((t) => rest.startsWith(t))) return 1;
  }
  return 0;
}

function cssDanger(v: string): boolean {
  return v.includes('expression(') || v.includes('expression (') || v.includes('javascript:') || v.includes('-moz-binding') || v.includes('behavior:') || v.includes('behavior :') || v.includes('vbscript:');
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** Characters without which no rule can match. */
function interesting(s: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 60 || c === 62 || c === 58 || c === 61 || c === 40 || c === 96 || c === 91 || c === 123 || c === 38 || c === 92 || c === 43 || c === 33 || c === 46 || c === 37 || c > 0xbb) {
      return true;
    }
  }
  return false;
}

/**
 * Markup that is not spelled with `<` and `>`:
 * - US-ASCII "half-width" tags: `\xbcscript\xbe…\xbc/script\xbe`. With the high bit stripped (a
 *   7-bit charset, some legacy decoders) 0xBC is `<` and 0xBE is `>`. Characters U+00BC / U+00BE
 *   reach the detectors as NFKC `1⁄4` / `3⁄4`; an opening tag and the closing tag of the same name are
 *   needed (`¼` and `¾` alone are fractions, and `¼script¾` without its close is not reported);
 * - a value that is only an HTML comment close (`-->`, `--!>`): it breaks out of a comment the page
 *   reflects the value into. An arrow in a sentence (`a --> b`) is not one.
 */
const HALF_WIDTH_TAG = /1\u20444([a-z]{1,16})(?![a-z])[^\u2044<>]{0,200}?3\u20444[\s\S]{0,2000}?1\u20444\/\1[^\u2044<>]{0,2}3\u20444/;
const COMMENT_CLOSE = /^--!?>\s*(?:$|<)/;

function fragment(s: string): XssResult | null {
  if (s.charCodeAt(0) === 45 && COMMENT_CLOSE.test(s)) return { context: 'html', paranoia: 1, reason: 'HTML comment close alone' };
  if (s.includes('\u2044')) {
    const m = HALF_WIDTH_TAG.exec(s);
    if (m !== null) return { context: 'html', paranoia: 1, reason: `US-ASCII high-bit tag <${m[1]}>` };
  }
  return null;
}

/**
 * Detects cross-site scripting in one already-decoded request value.
 * Pure and synchronous; inspects at most the first `maxLength` characters (default 64 KiB).
 */
export function detectXss(value: string, paranoia: 1 | 2 | 3 | 4, maxLength: number = XSS_MAX_LENGTH): XssResult | null {
  const end = Math.min(value.length, maxLength);
  if (end === 0 || !interesting(value, end)) return null;
  let text = end === value.length ? value : value.slice(0, end);
  let escapes = 0;
  let evasive = false;
  if (needsNormalising(text, end)) {
    const n = normalise(text, end);
    text = n.s;
    escapes = n.escapes;
    evasive = n.evasive;
  }
  const frag = fragment(text);
  if (frag !== null) return frag.paranoia <= paranoia ? frag : null;
  const scan = new Scan(text);
  scan.evasive = evasive;
  scan.run();
  if (escapes >= 3) scan.hit(2, 'js', 'JavaScript unicode escapes');
  if (paranoia === 4 && scan.best === null && /&#x?[0-9a-f]+;?|\\x[0-9a-f]{2}/i.test(value.slice(0, Math.min(end, 4096)))) {
    scan.hit(4, 'html', 'encoded characters');
  }
  const best = scan.best;
  if (best === null || best.paranoia > paranoia) return null;
  return best;
}
