/**
 * The subset of Structured Field Values (RFC 8941) that HTTP Message Signatures (RFC 9421) and
 * Content-Digest (RFC 9530) need: parsing a Dictionary and an Inner List with their parameters, and
 * the canonical serialisation of an Inner List / Item (RFC 8941 §4.1), which the signature base uses
 * for `@signature-params` and for component identifiers (RFC 9421 §2.3, §2.5).
 *
 * Written from the parsing algorithms of RFC 8941 §4.2: strict, no leniency beyond what the RFC
 * allows (leading/trailing SP, OWS around dictionary commas). Any deviation throws SfError.
 */

export class SfError extends Error {
  override readonly name = 'SfError';
}

/** A token (RFC 8941 §3.3.4) is kept apart from a string: they serialise differently. */
export interface SfToken {
  readonly token: string;
}

export type BareItem = string | number | boolean | Uint8Array | SfToken;
export type Params = Map<string, BareItem>;

export interface SfItem {
  readonly value: BareItem;
  readonly params: Params;
}

export interface SfInnerList {
  readonly items: SfItem[];
  readonly params: Params;
}

export type DictMember = SfItem | SfInnerList;

export function isInnerList(m: DictMember): m is SfInnerList {
  return 'items' in m;
}

export function isToken(v: BareItem): v is SfToken {
  return typeof v === 'object' && !(v instanceof Uint8Array);
}

const KEY_START = /[a-z*]/;
const KEY_CHAR = /[a-z0-9_\-.*]/;
const TOKEN_START = /[A-Za-z*]/;
// tchar (RFC 9110 §5.6.2) plus ":" and "/" (RFC 8941 §3.3.4).
const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z:/]/;
const BASE64_CHAR = /[A-Za-z0-9+/=]/;

class Parser {
  private pos = 0;
  private readonly s: string;

  constructor(input: string) {
    // RFC 8941 §4.2: discard leading and trailing SP.
    let start = 0;
    let end = input.length;
    while (start < end && input.charCodeAt(start) === 32) start++;
    while (end > start && input.charCodeAt(end - 1) === 32) end--;
    this.s = input.slice(start, end);
    for (let i = 0; i < this.s.length; i++) {
      const c = this.s.charCodeAt(i);
      if (c > 0x7e || (c < 0x20 && c !== 0x09)) throw new SfError('non-ASCII or control character');
    }
  }

  get done(): boolean {
    return this.pos >= this.s.length;
  }

  private peek(): string {
    return this.s[this.pos] ?? '';
  }

  private skipSp(): void {
    while (this.s.charCodeAt(this.pos) === 32) this.pos++;
  }

  private skipOws(): void {
    while (this.s.charCodeAt(this.pos) === 32 || this.s.charCodeAt(this.pos) === 9) this.pos++;
  }

  /** RFC 8941 §4.2.2 */
  dictionary(): Map<string, DictMember> {
    const out = new Map<string, DictMember>();
    while (!this.done) {
      const key = this.key();
      let member: DictMember;
      if (this.peek() === '=') {
        this.pos++;
        member = this.itemOrInnerList();
      } else {
        member = { value: true, params: this.parameters() };
      }
      // A later duplicate key overwrites the earlier value (RFC 8941 §4.2.2).
      out.delete(key);
      out.set(key, member);
      this.skipOws();
      if (this.done) return out;
      if (this.peek() !== ',') throw new SfError(`expected "," at ${this.pos}`);
      this.pos++;
      this.skipOws();
      if (this.done) throw new SfError('trailing comma');
    }
    return out;
  }

  itemOrInnerList(): DictMember {
    return this.peek() === '(' ? this.innerList() : this.item();
  }

  /** RFC 8941 §4.2.1.2 */
  innerList(): SfInnerList {
    if (this.peek() !== '(') throw new SfError('expected "("');
    this.pos++;
    const items: SfItem[] = [];
    while (!this.done) {
      this.skipSp();
      if (this.peek() === ')') {
        this.pos++;
        return { items, params: this.parameters() };
      }
      items.push(this.item());
      const c = this.peek();
      if (c !== ' ' && c !== ')') throw new SfError(`expected SP or ")" at ${this.pos}`);
    }
    throw new SfError('unterminated inner list');
  }

  /** RFC 8941 §4.2.3 */
  item(): SfItem {
    const value = this.bareItem();
    return { value, params: this.parameters() };
  }

  /** RFC 8941 §4.2.3.2 */
  private parameters(): Params {
    const params: Params = new Map();
    while (this.peek() === ';') {
      this.pos++;
      this.skipSp();
      const key = this.key();
      let value: BareItem = true;
      if (this.peek() === '=') {
        this.pos++;
        value = this.bareItem();
      }
      params.delete(key);
      params.set(key, value);
    }
    return params;
  }

  /** RFC 8941 §4.2.3.3 */
  private key(): string {
    const start = this.pos;
    if (!KEY_START.test(this.peek())) throw new SfError(`expected a key at ${this.pos}`);
    this.pos++;
    while (!this.done && KEY_CHAR.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }

  /** RFC 8941 §4.2.3.1 */
  private bareItem(): BareItem {
    const c = this.peek();
    if (c === '-' || (c >= '0' && c <= '9')) return this.number();
    if (c === '"') return this.string();
    if (c === ':') return this.byteSequence();
    if (c === '?') return this.boolean();
    if (TOKEN_START.test(c)) return this.token();
    throw new SfError(`unexpected ${JSON.stringify(c)} at ${this.pos}`);
  }

  /** RFC 8941 §4.2.4 */
  private number(): number {
    const start = this.pos;
    if (this.peek() === '-') this.pos++;
    let digits = 0;
    let dot = -1;
    while (!this.done) {
      const c = this.peek();
      if (c >= '0' && c <= '9') {
        digits++;
        this.pos++;
      } else if (c === '.' && dot === -1) {
        if (digits > 12) throw new SfError('decimal with more than 12 integer digits');
        dot = digits;
        this.pos++;
      } else break;
      if (dot === -1 && digits > 15) throw new SfError('integer with more than 15 digits');
      if (dot !== -1 && digits - dot > 3) throw new SfError('decimal with more than 3 fraction digits');
    }
    const text = this.s.slice(start, this.pos);
    if (digits === 0 || text.endsWith('.') || (dot === 0)) throw new SfError(`malformed number ${JSON.stringify(text)}`);
    return Number(text);
  }

  /** RFC 8941 §4.2.5 */
  private string(): string {
    this.pos++;
    let out = '';
    while (!this.done) {
      const c = this.s[this.pos++] as string;
      if (c === '\\') {
        const n = this.s[this.pos++];
        if (n !== '"' && n !== '\\') throw new SfError('bad escape in string');
        out += n;
      } else if (c === '"') {
        return out;
      } else {
        const code = c.charCodeAt(0);
        if (code < 0x20 || code > 0x7e) throw new SfError('control character in string');
        out += c;
      }
    }
    throw new SfError('unterminated string');
  }

  /** RFC 8941 §4.2.6 */
  private token(): SfToken {
    const start = this.pos;
    this.pos++;
    while (!this.done && TOKEN_CHAR.test(this.peek())) this.pos++;
    return { token: this.s.slice(start, this.pos) };
  }

  /** RFC 8941 §4.2.7 */
  private byteSequence(): Uint8Array {
    this.pos++;
    const end = this.s.indexOf(':', this.pos);
    if (end === -1) throw new SfError('unterminated byte sequence');
    const text = this.s.slice(this.pos, end);
    for (const ch of text) if (!BASE64_CHAR.test(ch)) throw new SfError('invalid base64 in byte sequence');
    if (text.length % 4 !== 0) throw new SfError('base64 without padding in byte sequence');
    this.pos = end + 1;
    return new Uint8Array(Buffer.from(text, 'base64'));
  }

  /** RFC 8941 §4.2.8 */
  private boolean(): boolean {
    this.pos++;
    const c = this.s[this.pos++];
    if (c === '1') return true;
    if (c === '0') return false;
    throw new SfError('malformed boolean');
  }
}

/** Parses a Dictionary field value (RFC 8941 §4.2.2). Throws SfError. */
export function parseDictionary(value: string): Map<string, DictMember> {
  return new Parser(value).dictionary();
}

/** Parses one Item (RFC 8941 §4.2.3) that must be the whole value, e.g. a component identifier. */
export function parseItem(value: string): SfItem {
  const p = new Parser(value);
  const item = p.item();
  if (!p.done) throw new SfError('trailing characters after item');
  return item;
}

/** Parses one Inner List that must be the whole value. */
export function parseInnerList(value: string): SfInnerList {
  const p = new Parser(value);
  const list = p.innerList();
  if (!p.done) throw new SfError('trailing characters after inner list');
  return list;
}

// --- serialisation (RFC 8941 §4.1) ---

export function serializeBareItem(v: BareItem): string {
  if (typeof v === 'boolean') return v ? '?1' : '?0';
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new SfError('not a finite number');
    if (Number.isInteger(v)) {
      if (Math.abs(v) > 999_999_999_999_999) throw new SfError('integer out of range');
      return String(v);
    }
    // §4.1.5: at most three fraction digits, rounded half to even; no trailing zeros beyond one.
    const rounded = Math.round(v * 1000) / 1000;
    const text = rounded.toFixed(3).replace(/0+$/, '');
    return text.endsWith('.') ? `${text}0` : text;
  }
  if (typeof v === 'string') {
    for (let i = 0; i < v.length; i++) {
      const c = v.charCodeAt(i);
      if (c < 0x20 || c > 0x7e) throw new SfError('string with a character outside VCHAR / SP');
    }
    return `"${v.replace(/[\\"]/g, (m) => `\\${m}`)}"`;
  }
  if (v instanceof Uint8Array) return `:${Buffer.from(v).toString('base64')}:`;
  if (!TOKEN_START.test(v.token[0] ?? '') || ![...v.token].every((ch) => TOKEN_CHAR.test(ch))) throw new SfError('invalid token');
  return v.token;
}

export function serializeParams(params: Params): string {
  let out = '';
  for (const [key, value] of params) {
    out += `;${key}`;
    if (value !== true) out += `=${serializeBareItem(value)}`;
  }
  return out;
}

export function serializeItem(item: SfItem): string {
  return serializeBareItem(item.value) + serializeParams(item.params);
}

export function serializeInnerList(list: SfInnerList): string {
  return `(${list.items.map(serializeItem).join(' ')})${serializeParams(list.params)}`;
}

export function serializeDictionary(dict: Map<string, DictMember>): string {
  const parts: string[] = [];
  for (const [key, m] of dict) {
    if (!isInnerList(m) && m.value === true) parts.push(key + serializeParams(m.params));
    else parts.push(`${key}=${isInnerList(m) ? serializeInnerList(m) : serializeItem(m)}`);
  }
  return parts.join(', ');
}
