/**
 * Address-list files (`allowFile`, `denyFile`): one address or CIDR per line; `#` and `;` start a
 * comment (FireHOL netsets use `#`, Spamhaus DROP writes `1.10.16.0/20 ; SBL256894`); blank
 * lines are skipped. Read at every config build, so a reload picks up a refreshed feed.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseCidr, type Cidr } from './addresses.ts';

/** Bad lines reported per file: a file of the wrong format would otherwise give thousands. */
const MAX_REPORTED = 5;

export interface ListFile {
  /** As written in the config. */
  name: string;
  cidrs: Cidr[];
  /** The entry's text, as in the file. */
  texts: string[];
  /** The entry's line number, from 1. */
  lines: Int32Array;
  /** Why the file cannot be used (unreadable, bad lines), each naming the file and the line; empty when fine. */
  problems: string[];
}

/** Parses a list file's text; `name` is used in the problems. */
export function parseListText(text: string, name: string): ListFile {
  const cidrs: Cidr[] = [];
  const texts: string[] = [];
  const lines: number[] = [];
  const problems: string[] = [];
  let bad = 0;
  let lineNo = 0;
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol === -1) eol = text.length;
    lineNo++;
    let end = eol;
    for (let i = pos; i < eol; i++) {
      const c = text.charCodeAt(i);
      if (c === 35 /* # */ || c === 59 /* ; */) {
        end = i;
        break;
      }
    }
    const entry = text.slice(pos, end).trim();
    pos = eol + 1;
    if (entry === '') continue;
    try {
      cidrs.push(parseCidr(entry));
      texts.push(entry);
      lines.push(lineNo);
    } catch (err) {
      if (++bad <= MAX_REPORTED) problems.push(`${name} line ${lineNo}: ${(err as Error).message}`);
    }
  }
  if (bad > MAX_REPORTED) problems.push(`${name}: ${bad - MAX_REPORTED} more bad line${bad - MAX_REPORTED === 1 ? '' : 's'}`);
  return { name, cidrs, texts, lines: Int32Array.from(lines), problems };
}

/** Reads and parses a list file; `file` is resolved against the config file's directory. */
export async function readListFile(file: string, baseDir: string): Promise<ListFile> {
  const resolved = path.resolve(baseDir, file);
  let text: string;
  try {
    text = await readFile(resolved, 'utf8');
  } catch (err) {
    const where = resolved === file ? file : `${file} (${resolved})`;
    return { name: file, cidrs: [], texts: [], lines: new Int32Array(0), problems: [`cannot read ${where}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`] };
  }
  return parseListText(text, file);
}
