/**
 * Where the inspected values come from: query strings, cookies, and bodies (JSON, forms, multipart,
 * XML, text). Parsing is lenient (an attacker's malformed input must still be inspected, never
 * skipped) and bounded: at most `MAX_VALUES` values per request and `MAX_DEPTH` levels of nesting;
 * what lies beyond is inspected as one raw text value instead of being ignored.
 */
import { isUtf8 } from 'node:buffer';
import { isValidBoundary, parseMultipart } from '../stages/validate/forms.ts';

/** One value to inspect: its field name (`query.id`, `body.items[0].name`) and whether it is a name. */
export interface Visit {
  (field: string, value: string, key: boolean): boolean;
}

export const MAX_VALUES = 10_000;
export const MAX_DEPTH = 64;

/**
 * `a=1&b=2`: each name and value with `+` as space. Percent-decoding is left to the normaliser (which
 * decodes leniently and repeatedly); the visit returns false to stop early.
 */
export function visitQuery(query: string, prefix: string, visit: Visit): boolean {
  let start = 0;
  let count = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (end > start) {
      if (++count > MAX_VALUES) return true;
      const eq = query.indexOf('=', start);
      const hasValue = eq !== -1 && eq < end;
      const rawName = query.slice(start, hasValue ? eq : end);
      const name = rawName.includes('+') ? rawName.replace(/\+/g, ' ') : rawName;
      const field = `${prefix}.${fieldName(name)}`;
      if (name !== '' && !visit(field, name, true)) return false;
      if (!hasValue) {
        // `pay%3D%7C%7C+c+%3D%3D+%27`: the `=` itself is encoded. A backend that decodes the body once
        // more (or a proxy in front of it) sees `pay=|| c == '`: judge what follows the encoded `=` as a value too.
        const enc = encodedEquals(name);
        if (enc !== -1 && enc + 3 < name.length && !visit(`${prefix}.${fieldName(name.slice(0, enc))}`, name.slice(enc + 3), false)) return false;
      }
      if (hasValue) {
        const raw = query.slice(eq + 1, end);
        const value = raw.includes('+') ? raw.replace(/\+/g, ' ') : raw;
        if (value !== '' && !visit(field, value, false)) return false;
      }
    }
    start = end + 1;
  }
  return true;
}

/** Index of the first `%3d` / `%3D` (an encoded `=`) in a raw parameter name, or -1. */
function encodedEquals(name: string): number {
  const i = name.indexOf('%3');
  if (i === -1) return -1;
  const m = /%3[dD]/.exec(name.slice(i));
  return m === null ? -1 : i + m.index;
}

/** A parameter name as a field-name segment: decoded when it decodes, lower case, bounded. */
export function fieldName(name: string): string {
  let n = name;
  if (n.includes('%')) {
    try {
      n = decodeURIComponent(n);
    } catch {
      // keep it encoded
    }
  }
  return n.length > 64 ? `${n.slice(0, 64).toLowerCase()}…` : n.toLowerCase();
}

/** `Cookie: a=1; b=2`: names and values (a value may be quoted). */
export function visitCookies(header: string, visit: Visit): boolean {
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    const name = (eq === -1 ? part : part.slice(0, eq)).trim();
    let value = eq === -1 ? '' : part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const field = `cookie.${fieldName(name)}`;
    if (name !== '' && !visit(field, name, true)) return false;
    if (value !== '' && !visit(field, value, false)) return false;
  }
  return true;
}

/** A parsed JSON (or form) value: every key and string (numbers and booleans hold no attack). */
export function visitParsed(node: unknown, visit: Visit): boolean {
  const st = { count: 0 };
  return walk(node, 'body', 0, visit, st);
}

function walk(node: unknown, path: string, depth: number, visit: Visit, st: { count: number }): boolean {
  if (typeof node === 'string') {
    if (++st.count > MAX_VALUES) return true;
    return node === '' || visit(path, node, false);
  }
  if (typeof node !== 'object' || node === null) return true;
  if (depth >= MAX_DEPTH) {
    // Deeper than any sane document: inspect the rest as one text rather than not at all.
    return visit(path, JSON.stringify(node).slice(0, 1 << 20), false);
  }
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      if (!walk(node[i], `${path}[${i}]`, depth + 1, visit, st)) return false;
    }
    return true;
  }
  for (const key in node as Record<string, unknown>) {
    if (++st.count > MAX_VALUES) return true;
    const child = `${path}.${key.length > 64 ? `${key.slice(0, 64)}…` : key.toLowerCase()}`;
    if (!visit(child, key, true)) return false;
    if (!walk((node as Record<string, unknown>)[key], child, depth + 1, visit, st)) return false;
  }
  return true;
}

export type BodyKind = 'json' | 'form' | 'multipart' | 'xml' | 'text' | 'binary';

/** What kind of body a Content-Type announces; a body without one is judged by its first bytes. */
export function bodyKind(contentType: string | undefined, body: Buffer): BodyKind {
  const essence = (contentType ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? '';
  if (essence === 'application/json' || essence.endsWith('+json') || essence === 'application/csp-report') return 'json';
  if (essence === 'application/x-www-form-urlencoded') return 'form';
  if (essence === 'multipart/form-data') return 'multipart';
  if (essence === 'application/xml' || essence === 'text/xml' || essence.endsWith('+xml')) return 'xml';
  if (essence.startsWith('text/')) return 'text';
  if (essence === '') {
    // No Content-Type: many backends parse it anyway. Guess from the content.
    const head = body.subarray(0, 64).toString('latin1').trimStart();
    if (head.startsWith('{') || head.startsWith('[')) return 'json';
    if (head.startsWith('<')) return 'xml';
    if (/^[^=&\s]{1,256}=/.test(head)) return 'form';
    return 'text';
  }
  return 'binary';
}

/** Inspects a body that no validate stage parsed: parse it here, once. */
export function visitBody(body: Buffer, contentType: string | undefined, visit: Visit, maxTextBytes: number, file?: FileVisit): boolean {
  const kind = bodyKind(contentType, body);
  switch (kind) {
    case 'json': {
      const text = body.toString('utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return visit('body', text.slice(0, maxTextBytes), false);
      }
      return visitParsed(parsed, visit);
    }
    case 'form':
      return visitQuery(body.toString('utf8'), 'body', visit);
    case 'multipart':
      return visitMultipart(body, contentType ?? '', visit, maxTextBytes, file);
    case 'xml':
      return visitXml(body.toString('utf8'), visit);
    case 'text': {
      const text = body.toString('utf8', 0, Math.min(body.length, maxTextBytes));
      // `a=b&c=d` sent as text/plain is still a form to a lenient backend: inspect its fields too.
      if (/^[^=&\s]{1,256}=/.test(text) && !visitQuery(text, 'body', visit)) return false;
      // Without a Content-Type, one URL-encoded token (`%22+union+select%0A`: no spaces, `+` between
      // words) is what a form encoder sends: read `+` as a space too, as a lenient form parser would.
      // Its `=` may be encoded too (`pay%3D%7C%7C+c+%3D%3D+%27`): what follows is then a value.
      if (contentType === undefined && text.length <= 65536 && !/\s\S/.test(text)) {
        // One extra reading, not two (the same evidence twice would add up to a block).
        const form = text.includes('+') ? text.replace(/\+/g, ' ') : text;
        const enc = form.includes('&') ? -1 : encodedEquals(form);
        if (enc !== -1 && enc + 3 < form.length) {
          if (!visit(`body.${fieldName(form.slice(0, enc))}`, form.slice(enc + 3), false)) return false;
        } else if (form !== text && !visit('body', form, false)) return false;
      }
      return visit('body', text, false);
    }
    case 'binary':
      // Text sent as an opaque type is still inspected; real binary data (images, archives) is not.
      if (body.length <= maxTextBytes && isUtf8(body) && !body.includes(0)) return visit('body', body.toString('utf8'), false);
      return true;
  }
}

/** A multipart file part's name (its `filename` parameter, as the part parser decoded it). */
export interface FileVisit {
  (field: string, filename: string): boolean;
}

function visitMultipart(body: Buffer, contentType: string, visit: Visit, maxTextBytes: number, file: FileVisit | undefined): boolean {
  const b = /;\s*boundary\s*=\s*(?:"([^"]*)"|([^;\s]+))/i.exec(contentType);
  const boundary = b === null ? undefined : (b[1] ?? b[2]);
  if (boundary !== undefined && isValidBoundary(boundary)) {
    try {
      const { parts } = parseMultipart(body, boundary, { maxParts: 1000, maxFieldBytes: body.length, maxFileBytes: body.length });
      for (const p of parts) {
        const field = `body.${fieldName(p.name)}`;
        if (!visit(field, p.name, true)) return false;
        if (p.filename !== undefined) {
          if (!visit(field, p.filename, false)) return false;
          // The upload rules (`a.php`, `x.jsp`) on the name the parser read — `filename*` decoded,
          // quotes and escapes handled — not on a second, regex reading of the raw part heads.
          if (file !== undefined && p.filename !== '' && !file(field, p.filename)) return false;
          // File content: inspected when it is text (a script upload), never when binary.
          const content = body.subarray(p.start, p.end);
          if (content.length <= maxTextBytes && isUtf8(content) && !content.includes(0)) {
            if (!visit(`${field}.content`, content.toString('utf8'), false)) return false;
          }
        } else {
          const content = body.subarray(p.start, Math.min(p.end, p.start + maxTextBytes));
          if (!visit(field, content.toString('utf8'), false)) return false;
        }
      }
      return true;
    } catch {
      // Malformed: fall through to the raw text (what a lenient backend parser might still accept).
    }
  }
  return visit('body', body.toString('utf8', 0, Math.min(body.length, maxTextBytes)), false);
}

/**
 * XML: element and attribute names (as names), attribute values and text (as values). Comments and
 * CDATA content are text too; a DOCTYPE is reported whole (the engine looks for external entities).
 */
export function visitXml(xml: string, visit: Visit): boolean {
  const stack: string[] = [];
  let i = 0;
  let count = 0;
  const here = (): string => (stack.length === 0 ? 'body' : `body.${stack.slice(-4).join('.')}`);
  while (i < xml.length && count < MAX_VALUES) {
    const lt = xml.indexOf('<', i);
    const textEnd = lt === -1 ? xml.length : lt;
    const text = xml.slice(i, textEnd).trim();
    if (text !== '') {
      count++;
      if (!visit(here(), text, false)) return false;
    }
    if (lt === -1) break;
    if (xml.startsWith('<!--', lt)) {
      const end = xml.indexOf('-->', lt + 4);
      const c = xml.slice(lt + 4, end === -1 ? xml.length : end).trim();
      if (c !== '' && !visit(here(), c, false)) return false;
      i = end === -1 ? xml.length : end + 3;
      continue;
    }
    if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt + 9);
      const c = xml.slice(lt + 9, end === -1 ? xml.length : end);
      if (c.trim() !== '' && !visit(here(), c, false)) return false;
      i = end === -1 ? xml.length : end + 3;
      continue;
    }
    if (xml.startsWith('<!', lt)) {
      // DOCTYPE (possibly with an internal subset in [...]).
      const bracket = xml.indexOf('[', lt);
      const gt = xml.indexOf('>', lt);
      let end = gt;
      if (bracket !== -1 && gt !== -1 && bracket < gt) {
        const close = xml.indexOf(']>', bracket);
        end = close === -1 ? xml.length : close + 1;
      }
      const decl = xml.slice(lt, end === -1 ? xml.length : end + 1);
      if (!visit('body.!doctype', decl, false)) return false;
      i = end === -1 ? xml.length : end + 1;
      continue;
    }
    const gt = xml.indexOf('>', lt);
    const tag = xml.slice(lt + 1, gt === -1 ? xml.length : gt);
    i = gt === -1 ? xml.length : gt + 1;
    if (tag.startsWith('?')) continue; // processing instruction / XML declaration
    if (tag.startsWith('/')) {
      stack.pop();
      continue;
    }
    const selfClosing = tag.endsWith('/');
    const nameMatch = /^\s*([^\s/>]+)/.exec(tag);
    const name = nameMatch === null ? '' : (nameMatch[1] as string);
    if (name !== '') {
      count++;
      if (!visit(`${here()}.${name.toLowerCase().slice(0, 64)}`, name, true)) return false;
    }
    const attrs = /([^\s=/"']+)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))/g;
    const rest = tag.slice(nameMatch === null ? 0 : nameMatch[0].length);
    for (let m = attrs.exec(rest); m !== null && count < MAX_VALUES; m = attrs.exec(rest)) {
      count++;
      const field = `${here()}.${name.toLowerCase().slice(0, 64)}@${(m[1] as string).toLowerCase().slice(0, 64)}`;
      if (!visit(field, m[1] as string, true)) return false;
      const v = m[2] ?? m[3] ?? m[4] ?? '';
      if (v !== '' && !visit(field, v, false)) return false;
    }
    if (!selfClosing && name !== '') {
      stack.push(name.toLowerCase().slice(0, 64));
      if (stack.length > MAX_DEPTH) stack.shift();
    }
  }
  return true;
}
