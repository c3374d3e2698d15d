/**
 * Component values and the signature base of HTTP Message Signatures (RFC 9421 §2). The same code
 * builds the base for verifying an inbound request, for signing an outbound one, and for the
 * Appendix B known-answer tests, through a small view of the message (`MessageView`).
 */
import {
  isInnerList,
  parseDictionary,
  serializeDictionary,
  serializeInnerList,
  serializeItem,
  SfError,
  type SfInnerList,
  type SfItem,
} from './structured.ts';

export class ComponentError extends Error {
  override readonly name = 'ComponentError';
}

/** What the signature base needs to know about one HTTP message. */
export interface MessageView {
  /** Request method as sent (request only). */
  method?: string | undefined;
  /** `http` or `https` (request only). */
  scheme?: string | undefined;
  /** Host[:port] as the request named it (Host or :authority). */
  authority?: string | undefined;
  /** The request target's path as sent, e.g. `/foo` (request only). */
  path?: string | undefined;
  /** The query as sent without `?`; undefined when the target has no `?`. */
  query?: string | undefined;
  /** Response status (response only). */
  status?: number | undefined;
  /** The field lines of a (lower-case) field name, in order; undefined when absent. */
  field(name: string): readonly string[] | undefined;
}

/** Structured fields this gateway knows to be Dictionaries (for `;sf` and `;key`). */
const DICTIONARY_FIELDS = new Set(['signature', 'signature-input', 'content-digest', 'repr-digest', 'want-content-digest', 'want-repr-digest', 'accept-signature']);

const DEFAULT_PORTS: Record<string, string> = { http: '80', https: '443' };

/** RFC 9421 §2.2.3: the authority lower-cased, without the scheme's default port. */
export function normalizeAuthority(authority: string, scheme: string | undefined): string {
  const a = authority.toLowerCase();
  const colon = a.lastIndexOf(':');
  if (colon !== -1 && colon > a.lastIndexOf(']')) {
    const port = a.slice(colon + 1);
    if (scheme !== undefined && DEFAULT_PORTS[scheme] === port) return a.slice(0, colon);
  }
  return a;
}

/**
 * The value of one covered component (RFC 9421 §2.1 HTTP fields, §2.2 derived components).
 * Throws ComponentError when the component is absent, unknown or its parameters are not supported.
 */
export function componentValue(id: SfItem, msg: MessageView): string {
  if (typeof id.value !== 'string') throw new ComponentError('component identifier is not a string');
  const name = id.value;
  if (name.startsWith('@')) return derivedValue(name, id, msg);
  if (name !== name.toLowerCase()) throw new ComponentError(`field name "${name}" is not lower-case`);
  for (const key of id.params.keys()) {
    if (key !== 'sf' && key !== 'key' && key !== 'bs') throw new ComponentError(`parameter ;${key} of "${name}" is not supported`);
  }
  const lines = msg.field(name);
  if (lines === undefined) throw new ComponentError(`field "${name}" is not in the message`);
  const sf = id.params.get('sf') === true;
  const key = id.params.get('key');
  const bs = id.params.get('bs') === true;
  if (bs && (sf || key !== undefined)) throw new ComponentError(`;bs cannot be combined with ;sf or ;key ("${name}")`);
  if (bs) {
    // §2.1.3: each field line's value (trimmed) as a byte sequence, joined by ", ".
    return lines.map((l) => `:${Buffer.from(l.trim(), 'latin1').toString('base64')}:`).join(', ');
  }
  // §2.1: values trimmed of leading and trailing whitespace, several lines joined by ", ".
  const combined = lines.map((l) => l.trim()).join(', ');
  if (!sf && key === undefined) return combined;
  if (!DICTIONARY_FIELDS.has(name)) throw new ComponentError(`"${name}" is not a known structured Dictionary field (;sf / ;key)`);
  let dict;
  try {
    dict = parseDictionary(combined);
  } catch (err) {
    throw new ComponentError(`"${name}" is not a valid Dictionary: ${(err as SfError).message}`);
  }
  if (key === undefined) {
    // §2.1.1: the strict re-serialisation of the whole Dictionary.
    return serializeDictionary(dict);
  }
  if (typeof key !== 'string') throw new ComponentError(`;key of "${name}" must be a string`);
  // §2.1.2: the member's value, re-serialised.
  const member = dict.get(key);
  if (member === undefined) throw new ComponentError(`"${name}" has no member "${key}"`);
  return isInnerList(member) ? serializeInnerList(member) : serializeItem(member);
}

function need<T>(value: T | undefined, name: string): T {
  if (value === undefined) throw new ComponentError(`${name} does not apply to this message`);
  return value;
}

function derivedValue(name: string, id: SfItem, msg: MessageView): string {
  for (const key of id.params.keys()) {
    if (!(name === '@query-param' && key === 'name')) throw new ComponentError(`parameter ;${key} of "${name}" is not supported`);
  }
  switch (name) {
    case '@method':
      return need(msg.method, name);
    case '@scheme':
      return need(msg.scheme, name).toLowerCase();
    case '@authority':
      return normalizeAuthority(need(msg.authority, name), msg.scheme);
    case '@target-uri': {
      const scheme = need(msg.scheme, name).toLowerCase();
      const q = msg.query !== undefined ? `?${msg.query}` : '';
      return `${scheme}://${normalizeAuthority(need(msg.authority, name), scheme)}${need(msg.path, name) || '/'}${q}`;
    }
    case '@request-target':
      return `${need(msg.path, name)}${msg.query !== undefined ? `?${msg.query}` : ''}`;
    case '@path':
      // §2.2.6: an empty path is "/".
      return need(msg.path, name) || '/';
    case '@query':
      // §2.2.7: the leading "?" is included; an absent query is "?" alone.
      need(msg.path, name);
      return `?${msg.query ?? ''}`;
    case '@query-param':
      return queryParam(id, msg);
    case '@status':
      return String(need(msg.status, name));
    default:
      // @signature-params is never a covered component (§2.3); unknown names fail (§3.2).
      throw new ComponentError(`derived component "${name}" is not supported`);
  }
}

/** application/x-www-form-urlencoded percent-encode set (WHATWG URL §1.3): keeps only A-Z a-z 0-9 * - . _ */
function formEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9*\-._]/.test(ch) ? ch : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** §2.2.8: one named query parameter, decoded as a form would be and re-encoded. */
function queryParam(id: SfItem, msg: MessageView): string {
  const wanted = id.params.get('name');
  if (typeof wanted !== 'string') throw new ComponentError('@query-param needs a string ;name');
  need(msg.path, '@query-param');
  const values: string[] = [];
  for (const [k, v] of new URLSearchParams(msg.query ?? '')) {
    if (formEncode(k) === wanted) values.push(formEncode(v));
  }
  if (values.length === 0) throw new ComponentError(`query parameter "${wanted}" is not in the request`);
  // §2.2.8: a name that occurs several times cannot be signed on its own (use @query).
  if (values.length > 1) throw new ComponentError(`query parameter "${wanted}" occurs more than once`);
  return values[0] as string;
}

/**
 * The signature base (RFC 9421 §2.5) of `params` (the Signature-Input member: covered components
 * and signature parameters) over `msg`. No trailing newline.
 */
export function signatureBase(params: SfInnerList, msg: MessageView): string {
  const seen = new Set<string>();
  let out = '';
  for (const id of params.items) {
    const ident = serializeItem(id);
    if (id.value === '@signature-params') throw new ComponentError('@signature-params cannot be a covered component');
    // §2.5: a component identifier listed twice fails.
    if (seen.has(ident)) throw new ComponentError(`component ${ident} is listed twice`);
    seen.add(ident);
    const value = componentValue(id, msg);
    if (/[\r\n]/.test(value)) throw new ComponentError(`component ${ident} contains a line break`);
    out += `${ident}: ${value}\n`;
  }
  return `${out}"@signature-params": ${serializeInnerList(params)}`;
}
