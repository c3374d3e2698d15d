/**
 * The threat-detection engine: takes a request apart into values (path, query names and values,
 * selected headers, cookies, body keys and strings), normalises each value once, runs the detectors
 * of the configured paranoia level on it, and adds up an anomaly score. The request is blocked when
 * the score reaches the threshold, or at once when a custom rule says `block`.
 *
 * Built once per route from config (exclusions and custom rules compiled); `inspect` allocates
 * nothing for a value no detector flags except its normalised copy.
 */
import { detectCode } from './code.ts';
import { detectCommand } from './command.ts';
import { visitBody, visitCookies, visitParsed, visitQuery, bodyKind } from './extract.ts';
import { detectJava } from './java.ts';
import { detectLfi } from './lfi.ts';
import { F_SPLIT_WORD, normalize } from './normalize.ts';
import { detectPhp } from './php.ts';
import { detectLdap, detectProtocolRequest, detectProtocolValue } from './protocol.ts';
import { detectRfi } from './rfi.ts';
import { detectScanner, SCANNER_HEADERS } from './scanner.ts';
import { detectCookieInjection, detectSessionFixation } from './session.ts';
import { detectSqli, sqliTokenSuspect } from './sqli.ts';
import { detectSsrf } from './ssrf.ts';
import { C_ALL, C_ANGLE, C_COLON, C_DASH, C_QUOTE, C_DIGIT, C_QUESTION, C_UNDERSCORE, charClasses, CRITICAL, hit, type Hit, type Location, type Paranoia, type ValueInfo } from './types.ts';
import { detectXss } from './xss.ts';

/** Detector ids (families), in the order they run. */
export const DETECTORS = ['protocol', 'sqli', 'xss', 'lfi', 'rfi', 'rce', 'php', 'java', 'code', 'ssrf', 'ldap', 'session', 'scanner'] as const;
export type DetectorId = (typeof DETECTORS)[number];

export interface Exclusion {
  /** Matches field names (`query.q`, `body.items[0].html`); undefined: every field. */
  field: RegExp | undefined;
  /** Detector ids or rule ids (`xss`, `lfi.traversal`, a custom rule id); undefined: all of them. */
  detectors: ReadonlySet<string> | undefined;
}

export interface CustomRule {
  id: string;
  field: RegExp | undefined;
  /** Index of the match in the normalised value, or -1. */
  match(value: string): number;
  score: number;
  block: boolean;
}

export interface EngineOptions {
  paranoia: Paranoia;
  threshold: number;
  /** Standard headers to inspect besides User-Agent, Referer, Cookie and the non-standard ones (lower case). */
  headers: readonly string[];
  inspectBody: boolean;
  /** Longest raw text body (or text part) inspected, in bytes. */
  maxTextBytes: number;
  exclusions: readonly Exclusion[];
  rules: readonly CustomRule[];
}

export interface InspectInput {
  method: string;
  /** Lower-case host without port. */
  host: string;
  /** The request target as received (path and query). */
  target: string;
  /** Node's rawHeaders: name, value, name, value, … */
  rawHeaders: readonly string[];
  /** The buffered body (undefined when none was read). */
  body: Buffer | undefined;
  /** The body as a validate stage parsed it (JSON value, form fields, text), or undefined. */
  parsedBody: unknown;
  /** The request announced a body (Content-Length > 0 or Transfer-Encoding). */
  hasBody: boolean;
}

export interface Finding {
  /** Detector id (family): `sqli`, `lfi`, … or `rule` for custom rules. */
  detector: string;
  /** Rule id: `lfi.traversal`, or the custom rule's id. */
  rule: string;
  /** Field name; `(name)` when the match is in the name rather than the value. */
  field: string;
  score: number;
  reason: string;
  /** Truncated, redacted excerpt of the normalised value around the evidence. */
  excerpt: string;
}

export interface Verdict {
  score: number;
  blocked: boolean;
  findings: Finding[];
}

/** Headers never inspected as values: fixed grammar the protocol guard checks, credentials, tracing. */
const STANDARD_HEADERS = new Set([
  'host', 'connection', 'content-length', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'keep-alive', 'proxy-connection',
  'accept', 'accept-encoding', 'accept-language', 'accept-charset', 'accept-datetime', 'accept-ranges', 'content-encoding',
  'content-language', 'content-md5', 'authorization', 'proxy-authorization', 'cache-control', 'pragma', 'expect',
  'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'range', 'request-range',
  'origin', 'dnt', 'upgrade-insecure-requests', 'priority', 'via', 'max-forwards', 'date', 'x-forwarded-for',
  'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-forwarded-prefix', 'forwarded', 'x-real-ip',
  'x-request-id', 'x-correlation-id', 'traceparent', 'tracestate', 'baggage', 'b3', 'x-b3-traceid', 'x-b3-spanid',
  'x-b3-parentspanid', 'x-b3-sampled', 'x-b3-flags', 'x-amzn-trace-id', 'x-cloud-trace-context', 'sentry-trace',
  'x-api-key', 'x-csrf-token', 'x-xsrf-token', 'x-auth-token', 'x-access-token', 'x-amz-date', 'x-amz-content-sha256',
  'x-amz-security-token', 'content-digest', 'repr-digest', 'digest', 'signature', 'signature-input', 'cdn-loop',
  'sec-fetch-site', 'sec-fetch-mode', 'sec-fetch-user', 'sec-fetch-dest', 'sec-ch-ua', 'sec-ch-ua-mobile',
  'sec-ch-ua-platform', 'sec-gpc', 'sec-purpose', 'purpose', 'x-requested-with', 'save-data', 'device-memory',
  'downlink', 'ect', 'rtt', 'viewport-width', 'width', 'dpr', 'api-version', 'accept-version', 'x-http2-stream-id',
  'content-type', 'lock-token', 'if', 'content-range', 'proxy', 'x-middleware-subrequest', 'x-http-method-override',
  'x-http-method', 'x-method-override', 'sec-websocket-key', 'sec-websocket-version', 'sec-websocket-extensions',
  'sec-websocket-protocol', 'idempotency-key', 'x-idempotency-key', 'etag', 'last-modified',
]);

/** Field names whose values are secrets: excerpts of them are never logged. */
const SECRET_FIELD = /(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[-_]?key|apikey|auth|credential|session|sessid|cookie|jwt|private|signature|otp|pin\b|cvv|ssn)/;

const ALL_DETECTORS: ReadonlySet<string> = new Set(DETECTORS);

export class ThreatEngine {
  readonly options: EngineOptions;
  private readonly extraHeaders: ReadonlySet<string>;
  /** The detectors left for a field name after the exclusions, cached (field names repeat across requests). */
  private readonly fieldCache = new Map<string, ReadonlySet<string> | null>();
  /** Header values no detector flagged (see `Inspection.value`), by header, host and value. */
  private readonly cleanHeaders = new Set<string>();
  /** Names, and values up to `MEMO_SHORT_VALUE` characters, no detector flagged (see `Inspection.value`), by raw text. */
  private readonly cleanNames = new Map<string, CleanValue>();
  /** Hashes of clean names and values seen once: only a second sighting is remembered (see `Inspection.value`). */
  private readonly seenOnce = new Int32Array(SEEN_SLOTS);

  constructor(options: EngineOptions) {
    this.options = options;
    this.extraHeaders = new Set(options.headers.map((h) => h.toLowerCase()));
  }

  inspect(input: InspectInput): Verdict {
    return new Inspection(this.options, this.extraHeaders, input, this.fieldCache, this.cleanHeaders, this.cleanNames, this.seenOnce).run();
  }
}

/** One request's inspection: the running score and findings. */
class Inspection {
  private readonly o: EngineOptions;
  private readonly extraHeaders: ReadonlySet<string>;
  private readonly input: InspectInput;
  private readonly pl: Paranoia;
  score = 0;
  blocked = false;
  findings: Finding[] = [];
  /** Referer absent or naming another host (for session fixation). */
  private foreignReferer = true;
  private readonly info: ValueInfo = { chars: C_ALL, location: 'path', key: false, flags: 0, header: undefined };

  private readonly fieldCache: Map<string, ReadonlySet<string> | null>;

  private readonly cleanHeaders: Set<string>;

  private readonly cleanNames: Map<string, CleanValue>;

  private readonly seenOnce: Int32Array;

  constructor(o: EngineOptions, extraHeaders: ReadonlySet<string>, input: InspectInput, fieldCache: Map<string, ReadonlySet<string> | null>, cleanHeaders: Set<string>, cleanNames: Map<string, CleanValue>, seenOnce: Int32Array) {
    this.seenOnce = seenOnce;
    this.fieldCache = fieldCache;
    this.cleanHeaders = cleanHeaders;
    this.cleanNames = cleanNames;
    this.o = o;
    this.extraHeaders = extraHeaders;
    this.input = input;
    this.pl = o.paranoia;
  }

  run(): Verdict {
    const input = this.input;
    const raw = input.rawHeaders;
    // Request-level checks need the headers as pairs; collect the ones the value pass reads.
    const pairs: [string, string][] = [];
    let userAgent: string | undefined;
    let contentType: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = (raw[i] as string).toLowerCase();
      if (name.charCodeAt(0) === 58 /* : */) continue;
      const value = raw[i + 1] as string;
      pairs.push([name, value]);
      if (name === 'user-agent') userAgent = value;
      else if (name === 'content-type') contentType ??= value;
      else if (name === 'referer') this.foreignReferer = !sameHost(value, input.host);
    }
    for (const h of detectProtocolRequest({ method: input.method, headers: pairs, hasBody: input.hasBody }, this.pl)) {
      if (this.enabled(h.rule, h.field) && this.add(h.field, false, h, 'protocol', '') && this.done()) return this.verdict();
    }
    if (userAgent !== undefined && this.enabled('scanner', 'header.user-agent')) {
      const s = detectScanner(userAgent.toLowerCase());
      if (s !== null && this.add('header.user-agent', false, s, 'scanner', userAgent) && this.done()) return this.verdict();
    }

    // Path (as received: dot segments and encodings are the evidence) and query.
    const q = input.target.indexOf('?');
    const rawPath = q === -1 ? input.target : input.target.slice(0, q);
    if (!this.value('path', rawPath, 'path', false, undefined)) return this.verdict();
    if (q !== -1) {
      const query = input.target.slice(q + 1);
      if (!visitQuery(query, 'query', (field, v, key) => this.value(field, v, 'query', key, undefined))) return this.verdict();
    }

    // Headers: User-Agent, Referer, cookies, the configured ones, and every non-standard one.
    for (const [name, value] of pairs) {
      if (name === 'cookie') {
        if (!visitCookies(value, (field, v, key) => this.value(field, v, 'cookie', key, undefined))) return this.verdict();
        continue;
      }
      if (SCANNER_HEADERS.has(name) && this.enabled('scanner', `header.${name}`)) {
        if (this.add(`header.${name}`, false, hit('scanner.header', CRITICAL, `scanner header ${name}`), 'scanner', value) && this.done()) return this.verdict();
      }
      if (name === 'user-agent' || name === 'referer' || this.extraHeaders.has(name) || name === 'content-type' || !STANDARD_HEADERS.has(name)) {
        if (value === '') continue;
        if (!this.value(`header.${name}`, value, 'header', false, name)) return this.verdict();
      }
    }

    // Body: the validate stage's parse when there is one, else parsed here (once).
    const body = input.body;
    if (this.o.inspectBody && body !== undefined && body.length > 0) {
      const visit = (field: string, v: string, key: boolean): boolean => this.value(field, v, 'body', key, undefined);
      const parsed = input.parsedBody;
      // A multipart body is always taken apart here: validate's fields hold a file part's name but
      // not its content, and the upload rules need each part's parsed file name.
      if (parsed !== undefined && !Buffer.isBuffer(parsed) && bodyKind(contentType, body) !== 'multipart') {
        if (typeof parsed === 'string') {
          if (!visit('body', parsed.length > this.o.maxTextBytes ? parsed.slice(0, this.o.maxTextBytes) : parsed, false)) return this.verdict();
        } else if (!visitParsed(parsed, visit)) return this.verdict();
      } else if (!visitBody(body, contentType, visit, this.o.maxTextBytes, (field, file) => this.fileName(field, file))) return this.verdict();
    }
    return this.verdict();
  }

  private verdict(): Verdict {
    return { score: this.score, blocked: this.blocked || this.score >= this.o.threshold, findings: this.findings };
  }

  private done(): boolean {
    return this.blocked || this.score >= this.o.threshold;
  }

  /** Whether detector (or rule) `id` runs on `field`. */
  private enabled(id: string, field: string): boolean {
    const ex = this.o.exclusions;
    for (let i = 0; i < ex.length; i++) {
      const e = ex[i] as Exclusion;
      if (e.field !== undefined && !e.field.test(field)) continue;
      if (e.detectors === undefined || e.detectors.has(id) || e.detectors.has(id.split('.', 1)[0] as string)) return false;
    }
    return true;
  }

  /** The detectors of `field` left after its exclusions (all of them when there are none). */
  private detectorsFor(field: string): ReadonlySet<string> | null {
    const ex = this.o.exclusions;
    if (ex.length === 0) return null;
    const cached = this.fieldCache.get(field);
    if (cached !== undefined) return cached;
    const computed = this.computeDetectorsFor(field);
    // Bounded: attacker-chosen field names must not grow it without limit.
    if (this.fieldCache.size >= 4096) this.fieldCache.clear();
    this.fieldCache.set(field, computed);
    return computed;
  }

  private computeDetectorsFor(field: string): ReadonlySet<string> | null {
    const ex = this.o.exclusions;
    let off: Set<string> | undefined;
    for (let i = 0; i < ex.length; i++) {
      const e = ex[i] as Exclusion;
      if (e.field !== undefined && !e.field.test(field)) continue;
      if (e.detectors === undefined) return EMPTY;
      off ??= new Set();
      for (const d of e.detectors) off.add(d);
    }
    if (off === undefined) return null;
    const on = new Set<string>();
    for (const d of ALL_DETECTORS) if (!off.has(d)) on.add(d);
    for (const d of off) on.add(`!${d}`);
    return on;
  }

  /** Multipart file names: the upload rules, on top of the value detectors. */
  private fileName(field: string, filename: string): boolean {
    const n = normalize(filename).value;
    const info = this.info;
    info.chars = charClasses(n);
    info.location = 'body';
    info.key = false;
    info.flags = 0;
    info.header = undefined;
    const allowed = this.detectorsFor(field);
    for (const [id, h] of [
      ['php', detectPhp(n, this.pl, info, true)],
      ['java', detectJava(n, this.pl, info, true)],
      ['lfi', detectLfi(n, this.pl, info)],
    ] as const) {
      if (h !== null && (allowed === null || allowed.has(id)) && !(allowed !== null && allowed.has(`!${h.rule}`))) {
        if (this.add(field, false, h, id, n) && this.done()) return false;
      }
    }
    return true;
  }

  /**
   * Inspects one value. Returns false to stop the walk (the threshold is reached or a rule blocks).
   */
  private value(field: string, raw: string, location: Location, key: boolean, header: string | undefined): boolean {
    const allowed = this.detectorsFor(field);
    if (allowed === EMPTY) return true;
    // User-Agent and Referer values repeat across requests (a few browsers, a few pages): one that no
    // detector flagged before is not judged again. The detectors are pure functions of the value, the
    // header (hence its exclusions), the host and the paranoia level of this engine; custom rules still run.
    const memo = header !== undefined && (header === 'user-agent' || header === 'referer') && raw.length <= MEMO_MAX_LENGTH ? `${header}\u0000${this.input.host}\u0000${raw}` : undefined;
    if (memo !== undefined && this.cleanHeaders.has(memo)) return this.o.rules.length === 0 || this.customRules(field, key, normalize(raw).value, allowed);
    // Names and values that repeat (`sku`, `qty` in every element of an array, the query names of an
    // API, `status=open`, `lang=en`; the same value in two fields): one that no detector flagged is not
    // normalised and judged again. The detectors read the value, its location, whether it is a name,
    // the last segment of its field (the parameter name the RFI rules look at), the Referer's verdict
    // (session fixation), the host and the paranoia level; all but the last (fixed per engine) are
    // compared. Only when no exclusion applies to the field. Names (up to MEMO_MAX_LENGTH characters)
    // and short values (up to MEMO_SHORT_VALUE) are remembered per engine, bounded like the headers
    // above, once seen clean twice (`seenBefore`). Custom rules still run, on the remembered normalised value.
    const remember = allowed === null && header === undefined && location !== 'path' && raw.length <= (key ? MEMO_MAX_LENGTH : MEMO_SHORT_VALUE);
    if (remember) {
      for (let c = this.cleanNames.get(raw); c !== undefined; c = c.next) {
        if (c.key === key && c.location === location && c.foreignReferer === this.foreignReferer && c.host === this.input.host && sameLastSegment(field, c.segment)) {
          return this.o.rules.length === 0 || this.customRules(field, key, c.normalized, allowed);
        }
      }
    }
    const norm = normalize(raw);
    const v = norm.value;
    const info = this.info;
    const chars = norm.chars !== -1 ? norm.chars : charClasses(v);
    info.chars = chars;
    info.location = location;
    info.key = key;
    info.flags = norm.flags;
    // Letters, digits, `_` and `-` only (`page`, `cus_42`, `SKU-1000`, `2025-05-01`): no SQL or markup
    // syntax to judge — unless `--` (a comment after a number: `1--`). SQL-only identifiers
    // (`information_schema`) are looked up below. Dotted words are not tokens: `document.cookie`,
    // `1.e.tables` (MySQL's scientific-notation evasion).
    const token = (chars & ~(C_DIGIT | C_UNDERSCORE | C_DASH)) === 0 && ((chars & C_DASH) === 0 || !v.includes('--'));
    info.header = header;
    if (v.length === 0) return true;
    this.curAllowed = allowed;
    this.curField = field;
    this.curKey = key;
    this.curValue = v;
    const before = this.findings.length;
    const scoreBefore = this.score;
    if (!this.detect(v, location, key, header, chars, token, field, raw)) return false;
    if (memo !== undefined && this.findings.length === before && this.score === scoreBefore) {
      if (this.cleanHeaders.size >= MEMO_ENTRIES) this.cleanHeaders.clear();
      this.cleanHeaders.add(memo);
    }
    if (remember && this.findings.length === before && this.score === scoreBefore && this.seenBefore(raw)) {
      const map = this.cleanNames;
      if (map.size >= MEMO_ENTRIES) map.clear();
      const prev = map.get(raw);
      // At most 4 readings of one raw text (`en` as a query value and as a cookie value, …).
      const next = prev !== undefined && (prev.next === undefined || prev.next.next === undefined || prev.next.next.next === undefined) ? prev : undefined;
      map.set(raw, { key, location, foreignReferer: this.foreignReferer, host: this.input.host, segment: lastSegment(field), normalized: v, next });
    }
    return this.customRules(field, key, v, allowed);
  }

  /**
   * Whether `raw` (probably) was judged clean before: a value that never repeats (an id, a note) is
   * then not remembered, which would only cost memory and garbage collection. Hash collisions only
   * decide what is remembered, never a verdict.
   */
  private seenBefore(raw: string): boolean {
    let h = 0x811c9dc5 | 0;
    for (let i = 0; i < raw.length; i++) h = Math.imul(h ^ raw.charCodeAt(i), 0x01000193);
    const slot = h & (SEEN_SLOTS - 1);
    if (this.seenOnce[slot] === h) return true;
    this.seenOnce[slot] = h;
    return false;
  }

  /** The detectors on one normalised value; false to stop the walk. */
  private detect(v: string, location: Location, key: boolean, header: string | undefined, chars: number, token: boolean, field: string, raw: string): boolean {
    const pl = this.pl;
    const info = this.info;
    if (this.on('protocol') && this.report('protocol', detectProtocolValue(v, pl, info))) return false;
    if ((!token || sqliTokenSuspect(v)) && this.on('sqli')) {
      const s = detectSqli(v, pl);
      if (s !== null && s.paranoia <= pl && this.report('sqli', hit(`sqli.${s.context}`, CRITICAL, `${s.reason} [${s.fingerprint}]`))) return false;
    }
    // The path too when it holds markup or quotes (`/index.php/<svg/onload=…>` is reflected by many
    // frameworks); an ordinary path has neither, so this costs nothing on normal traffic.
    if (!token && (location !== 'path' || (chars & (C_ANGLE | C_QUOTE)) !== 0) && this.on('xss')) {
      let x = detectXss(v, pl);
      if (x === null && (info.flags & F_SPLIT_WORD) !== 0 && (chars & C_COLON) !== 0) {
        // A TAB inside a scheme (`ja\tvascript:`) is dropped by browsers: read the letter runs before `:` joined.
        const joined = v.replace(SCHEME_RUN, (m) => m.replace(/[ \n]/g, ''));
        if (joined !== v) x = detectXss(joined, pl);
      }
      if (x !== null && x.paranoia <= pl && this.report('xss', hit(`xss.${x.context}`, CRITICAL, x.reason))) return false;
    }
    if (this.on('lfi') && this.report('lfi', detectLfi(v, pl, info))) return false;
    const urlHeader = location === 'header' && (header === 'referer' || header === 'origin');
    if (this.on('rce') && this.report('rce', detectCommand(v, pl, info))) return false;
    if (this.on('php') && this.report('php', detectPhp(v, pl, info))) return false;
    if (this.on('java') && this.report('java', detectJava(v, pl, info))) return false;
    if (this.on('code') && this.report('code', detectCode(v, pl, info))) return false;
    if ((chars & C_COLON) !== 0 || (chars & C_QUESTION) !== 0) {
      const name = (location === 'query' || location === 'body') && (chars & C_COLON) !== 0 ? lastSegment(field) : '';
      if (!urlHeader && this.on('rfi') && this.report('rfi', detectRfi(v, pl, info, name, this.input.host))) return false;
      if (!urlHeader && location !== 'path' && this.on('ssrf') && this.report('ssrf', detectSsrf(v, pl, info))) return false;
    }
    if (location !== 'path' && location !== 'header' && this.on('ldap') && this.report('ldap', detectLdap(v, pl, info))) return false;
    if (this.on('session')) {
      if (this.report('session', detectCookieInjection(v))) return false;
      if (key && location !== 'header' && location !== 'cookie' && this.report('session', detectSessionFixation(v, this.foreignReferer))) return false;
    }
    if (header !== undefined && this.isFileHeader(header)) {
      if (!this.fileName(field, raw)) return false;
    }
    return true;
  }

  /** The custom rules on one normalised value; false to stop the walk. */
  private customRules(field: string, key: boolean, v: string, allowed: ReadonlySet<string> | null): boolean {
    const rules = this.o.rules;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as CustomRule;
      if (r.field !== undefined && !r.field.test(field)) continue;
      if (allowed !== null && allowed.has(`!${r.id}`)) continue;
      const at = r.match(v);
      if (at === -1) continue;
      if (r.block) {
        this.blocked = true;
        this.add(field, key, hit(r.id, r.score, 'custom rule (block)', at), 'rule', v);
        return false;
      }
      if (this.add(field, key, hit(r.id, r.score, 'custom rule', at), 'rule', v) && this.done()) return false;
    }
    return true;
  }

  private curAllowed: ReadonlySet<string> | null = null;
  private curField = '';
  private curKey = false;
  private curValue = '';

  private on(id: string): boolean {
    return this.curAllowed === null || this.curAllowed.has(id);
  }

  /** Records a detector's hit on the current value; true when the walk should stop. */
  private report(id: string, h: Hit | null): boolean {
    if (h === null) return false;
    if (this.curAllowed !== null && this.curAllowed.has(`!${h.rule}`)) return false;
    return this.add(this.curField, this.curKey, h, id, this.curValue) && this.done();
  }

  /** Upload helpers send the file name in a header (`X-File-Name`, `X_Filename`). */
  private isFileHeader(name: string): boolean {
    return name.length < 24 && /^x[-_.]?file[-_.]?name$/.test(name);
  }

  /** Records a finding; true when it changed the score. */
  private add(field: string, key: boolean, h: Hit, detector: string, value: string): boolean {
    this.score += h.score;
    if (this.findings.length < 16) {
      this.findings.push({
        detector,
        rule: h.rule,
        field: key ? `${field}(name)` : field,
        score: h.score,
        reason: h.reason,
        excerpt: excerpt(field, value, h.at),
      });
    }
    return h.score > 0;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

/** Letters split by single spaces or newlines right before a `:` (a URL scheme a TAB or LF split). */
const SCHEME_RUN = /[a-z](?:[ \n]?[a-z]){3,11}(?=:)/g;

/** Clean User-Agent / Referer values, and clean names and short values, remembered per engine (each map), and the longest one remembered. */
const MEMO_ENTRIES = 4096;
const MEMO_MAX_LENGTH = 512;
/** Slots of the seen-once filter (a power of two). */
const SEEN_SLOTS = 8192;
/** Names and values up to this length are remembered across requests (in the same bounded map as names). */
const MEMO_SHORT_VALUE = 64;

/**
 * A name or value no detector flagged, with what the detectors read besides it (see `Inspection.value`).
 * Keyed by the raw value.
 */
interface CleanValue {
  key: boolean;
  location: Location;
  foreignReferer: boolean;
  host: string;
  /** The field's last segment (`lastSegment`). */
  segment: string;
  normalized: string;
  /** Another reading of the same raw text (another location, field name, …). */
  next: CleanValue | undefined;
}

/** Whether `lastSegment(field) === segment`, without slicing. */
function sameLastSegment(field: string, segment: string): boolean {
  const at = field.length - segment.length;
  if (at < 0 || !field.endsWith(segment)) return false;
  return at === 0 ? !field.includes('.') : field.charCodeAt(at - 1) === 46 && !segment.includes('.');
}

function lastSegment(field: string): string {
  const dot = field.lastIndexOf('.');
  return dot === -1 ? field : field.slice(dot + 1);
}

function sameHost(referer: string, host: string): boolean {
  const m = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#:]+)/i.exec(referer);
  if (m === null) return false;
  const h = (m[1] as string).toLowerCase();
  return h === host || h.endsWith(`.${host}`) || host.endsWith(`.${h}`);
}

/** At most 64 characters around the evidence; secrets never, long digit runs masked. */
export function excerpt(field: string, value: string, at: number): string {
  if (SECRET_FIELD.test(field)) return '[redacted]';
  const start = Math.max(0, Math.min(at, value.length) - 16);
  let s = value.slice(start, start + 64);
  s = s.replace(/\d{12,}/g, (d) => '#'.repeat(d.length)).replace(/[\u0000-\u001f\u007f]/g, ' ');
  return (start > 0 ? '…' : '') + s + (start + 64 < value.length ? '…' : '');
}

/** A short summary of a verdict for the log line and the decision record. */
export function summarize(v: Verdict, threshold: number): string {
  const parts = v.findings.slice(0, 4).map((f) => `${f.rule} at ${f.field} +${f.score} ${JSON.stringify(f.excerpt)}`);
  const more = v.findings.length > 4 ? `; +${v.findings.length - 4} more` : '';
  return `threat score ${v.score}/${threshold}: ${parts.join('; ')}${more}`;
}
