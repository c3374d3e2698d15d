/**
 * SQL-injection detector: tokenises a request value as SQL in the contexts an application is likely
 * to splice it into, folds the token sequence and judges it with a hand-curated set of structural
 * patterns (the design of libinjection — folded token fingerprints — written from scratch, with
 * rules instead of a fingerprint database).
 *
 * Contexts (each a separate parse of the same text):
 *  - `bare`          the value as SQL text of its own (statements, stacked queries, UNION, functions);
 *  - `number`        the value after a numeric value, as in `WHERE id = <value>` (`1 or 1=1`,
 *                    `) union select …`, `or sleep(5)`);
 *  - `single-quote`  the value inside `'…'`: the text up to the first unpaired `'` is the string the
 *                    attacker closes, what follows is the injected SQL (`x' or '1'='1`);
 *  - `double-quote`  the same with `"`;
 *  - `backtick`      the same with MySQL's `` ` `` identifier quotes (`ORDER BY `<value>``); weaker
 *                    evidence when the backticks pair up, as markdown code spans do.
 * A quote parse with backslash escapes (`\'` does not close, as in MySQL strings) runs as well when
 * the value contains `\'`; at paranoia 3 and up, typographic quotes (’ ‘ ´) are also read as `'`.
 *
 * Token classes (their fingerprint letters): `s` string, `1` number, `n` bareword, `v` variable,
 * `f` function name (a word followed by `(`), `U` UNION/EXCEPT/INTERSECT, `E` statement keyword
 * (SELECT, INSERT, DROP, EXEC …), `k` other keyword, `&` logical operator (AND OR XOR && ||),
 * `=` comparison (= <> != < > LIKE REGEXP IS IN BETWEEN …), `o` other operator, `(` `)` `,` `;`,
 * `c` comment (kept only when it ends the value), `B` ORDER BY / GROUP BY, `W` WAITFOR DELAY,
 * `N` NOT, `X` INTO OUTFILE/DUMPFILE, `?` anything else.
 *
 * Folding: comments inside the value are dropped (MySQL `/*! … *\/` executable comments are
 * unwrapped, their content counts), adjacent strings merge (MySQL concatenation), unary operators
 * vanish, multi-word operators (UNION ALL, ORDER BY, IS NOT, NOT LIKE, SOUNDS LIKE …) become one token.
 *
 * Paranoia: 1 = structural injection with high confidence (quote breakout followed by a boolean
 * condition / UNION / stacked statement / query-ending comment, tautologies, stacked statements,
 * time-based and error-based functions, system catalogs, SQL-only probes such as a value that is just
 * `rand(`); 2 = SQL syntax that rarely occurs in benign values (SQL function calls in text, complete
 * statements: `use SELECT * FROM users to list them` in a comment field is prose and is reported
 * from 2 on, not at 1), condition fragments (`and deleted = 0`, `in (1,2)`, `) AS x FROM`); 3 = weaker
 * fragments (lone operators `!=` `||`, SQL keywords in suspicious combinations, harmless-looking
 * quote endings); 4 = character-class anomalies (runs and counts of SQL metacharacters).
 * Benign text stays below 1 by construction: a quote closed by an apostrophe (`O'Brien and I select
 * a plan`) is followed by a word, not by an operator; `--flag`, `#anchor`, `-->` and markdown
 * headings are not query-ending comments; a comparison needs literals or a function or a subquery.
 *
 * Bounds: only the first `maxLength` characters (default 8 KiB) are inspected and at most
 * `MAX_TOKENS` tokens per parse; every scanner is a single forward pass (indexOf jumps included), so
 * the cost is linear in min(length, maxLength) — at most four parses.
 */

export interface SqliResult {
  /** fingerprint of the token sequence that matched, e.g. "s&1c" or a readable form */
  fingerprint: string;
  /** which context parse found it: 'bare' | 'single-quote' | 'double-quote' | 'number' (| 'backtick') */
  context: string;
  /** lowest paranoia level at which this is reported (1 = high confidence) */
  paranoia: 1 | 2 | 3 | 4;
  /** short reason for the log, e.g. "UNION SELECT after closed quote" */
  reason: string;
}

type Level = 1 | 2 | 3 | 4;

/** Default number of characters inspected. */
export const SQLI_MAX_LENGTH = 8192;
/** Tokens kept per parse (a bound on work for pathological inputs). */
const MAX_TOKENS = 4096;

// ---------------------------------------------------------------------------------------------
// Token classes

const T_END = 0;
const T_STR = 1;
const T_NUM = 2;
const T_WORD = 3;
const T_VAR = 4;
const T_FUNC = 5;
const T_UNION = 6;
const T_STMT = 7;
const T_KEY = 8;
const T_LOGIC = 9;
const T_CMP = 10;
const T_OP = 11;
const T_LP = 12;
const T_RP = 13;
const T_COMMA = 14;
const T_SEMI = 15;
const T_COMMENT = 16;
const T_OTHER = 17;
const T_BY = 18;
const T_WAIT = 19;
const T_NOT = 20;
const T_FILE = 21;

const CODES = '.s1nvfUEk&=o(),;c?BWNX';

interface Tok {
  t: number;
  /**
   * lower-cased text for words, keywords, operators and variables; strings: ' ' when the text starts
   * with a space, else ''; comments: 'loose' for `--word`, `#word` (not a query-ending comment), else ''
   */
  v: string;
  /** whitespace (or a comment) came before this token */
  ws: boolean;
  /** strings: closing quote missing; comments: `/*` without `*\/` */
  open: boolean;
  /** comments: 1 = `/* *\/`, 2 = `--` or `#`; strings: the quote character code */
  k: number;
  /** folded tokens: an inline comment touched this token without whitespace */
  cm: boolean;
  /** folded tokens: index of the matching parenthesis, or -1 */
  m: number;
}

const END: Tok = { t: T_END, v: '', ws: false, open: false, k: 0, cm: false, m: -1 };

// ---------------------------------------------------------------------------------------------
// Vocabulary

const KEYWORDS = new Map<string, number>();
function kw(type: number, words: string): void {
  for (const w of words.split(' ')) KEYWORDS.set(w, type);
}
kw(T_UNION, 'union except intersect');
kw(T_STMT, 'select insert update delete drop create alter truncate exec execute declare shutdown waitfor grant revoke rename prepare replace set merge handler call load');
kw(T_LOGIC, 'and or xor');
kw(T_CMP, 'like rlike ilike regexp glob match is in between notnull isnull sounds similar');
kw(T_NOT, 'not');
kw(
  T_KEY,
  'from where into values table order group by having limit offset as case when then else end distinct distinctrow all any some null true false exists collate procedure outfile dumpfile delay top join on asc desc database schema if with returning fetch for binary begin commit rollback escape analyse analyze immediate use',
);
kw(T_OP, 'div mod');

/** Functions that only make sense as attacks (time delays, error-based extraction, file access). */
const DANGER_FUNCS = new Set([
  'sleep', 'benchmark', 'pg_sleep', 'extractvalue', 'updatexml', 'load_file', 'name_const', 'make_set',
  'group_concat', 'concat_ws', 'xmltype', 'lo_import', 'lo_export', 'lo_get', 'pg_read_file', 'pg_ls_dir',
  'sqlite_compileoption_used', 'sqlite_compileoption_get', 'randomblob', 'dbms_pipe.receive_message',
  'dbms_lock.sleep', 'utl_inaddr.get_host_address', 'utl_inaddr.get_host_name', 'utl_http.request',
  'ctxsys.drithsx.sn', 'dbms_xmlgen.getxml', 'gtid_subset', 'openrowset', 'opendatasource', 'xp_cmdshell', 'xp_dirtree',
  'sys_eval', 'sys_exec', 'pg_sleep_for', 'dblink', 'dblink_connect', 'sqlite_version', 'find_in_set',
]);

/** Time-delay functions: dangerous only with a number argument in SQL position. */
const TIME_FUNCS = new Set(['sleep', 'benchmark', 'pg_sleep', 'pg_sleep_for', 'randomblob', 'dbms_lock.sleep']);

/** Functions of the SQL dialects (their names followed by `(`). */
const SQL_FUNCS = new Set(
  (
    'ascii substring substr mid length len char chr char_length concat hex unhex md5 sha1 sha2 rand floor ceil ceiling count ifnull ' +
    'isnull nullif coalesce if iif cast convert version database user current_user system_user session_user schema now sysdate ' +
    'lower upper lcase ucase trim rtrim ltrim left right replace strcmp pow power sin cos tan abs round log ln log10 pi row exists ' +
    'instr locate position format date time year month day hour minute second quarter week encode decode compress uncompress ' +
    'starts_with json_extract json_search json_array json_object jsonb_pretty json_build_object overlay string_to_array ' +
    'sqlite_version json_valid json find_in_set values default insert max min sum avg elt field soundex reverse space ' +
    'repeat lpad rpad bin oct conv crc32 aes_encrypt aes_decrypt des_encrypt to_base64 from_base64 export_set ' +
    'char_length character_length octet_length bit_length ord charindex unicode nchar patindex stuff quotename db_name ' +
    'host_name suser_name user_name object_name object_id col_name has_dbaccess is_srvrolemember fn_varbintohexstr ' +
    'current_database current_schema pg_client_encoding inet_server_addr to_char to_number chr_length nvl nvl2 decode ' +
    'utl_http.request sys_context rawtohex regexp_substr regexp_like extract xmlelement xmlagg xmlquery listagg ' +
    'string_agg array_agg array_to_string cardinality generate_series query_to_xml typeof zeroblob last_insert_rowid ' +
    'changes total_changes sqlite_source_id printf glob geometrycollection multipoint polygon linestring exp json_keys ' +
    'unistr likelihood unlikely likely mod div iif'
  ).split(' '),
);

/** SQL functions whose name alone, as a whole value `name(`, is a probe (CRS counts them at its paranoia level 1). */
const SQL_SPECIFIC_FUNCS = new Set(
  (
    'database db_name current_user system_user session_user benchmark sleep pg_sleep sysdate ifnull unhex group_concat ' +
    'concat_ws load_file extractvalue updatexml make_set name_const xmltype find_in_set coalesce nvl iif strcmp ' +
    'uncompress compress substring substr mid rtrim ltrim concat hex md5 rand sin cos pow ord trim insert decode encode ' +
    'schema_name user_name suser_name user version schema div'
  ).split(' '),
);

/** Zero-argument functions that reveal the server: `version()`, `database()`, `user()`. */
const INFO_FUNCS = new Set(['version', 'database', 'user', 'current_user', 'system_user', 'session_user', 'db_name', 'schema', 'current_database', 'connection_id', 'last_insert_id']);

/** PostgreSQL JSON operators. */
const JSON_OPS = new Set(['->', '->>', '#>', '<@', '?', '?|', '?&', '::']);

/** Type names after a PostgreSQL `::` cast. */
const SQL_TYPES = new Set(
  'int integer int4 int8 bigint smallint text bool boolean numeric jsonb json double float real varchar char bytea regclass oid date timestamp inet uuid xml nvarchar sysname bit datetime cursor money'.split(' '),
);

/** Identifiers of system catalogs and extended procedures: SQL-only vocabulary. */
const DANGER_WORDS = new Set([
  'information_schema', 'pg_catalog', 'pg_shadow', 'pg_authid', 'pg_user', 'pg_database', 'pg_tables', 'xp_cmdshell', 'xp_dirtree',
  'xp_regread', 'xp_fileexist', 'xp_availablemedia', 'xp_subdirs', 'sp_executesql', 'sp_password', 'sp_oacreate',
  'sp_oamethod', 'sp_makewebtask', 'sp_addlogin', 'sp_addsrvrolemember', 'sp_configure', 'openrowset', 'opendatasource',
  'utl_http', 'utl_inaddr', 'dbms_pipe', 'dbms_lock', 'dbms_java', 'sysobjects', 'syscolumns', 'sysdatabases',
  'msysaccessobjects', 'msysobjects', 'msysqueries', 'msysrelationships', 'sqlite_master', 'sqlite_schema',
  'sqlite_temp_master', 'mysql.user', 'all_tables', 'user_tables', 'all_tab_columns', 'dba_users', 'v$version',
  'sys.objects', 'sys.tables', 'sys.columns', 'sys.databases', 'msdasql',
]);

/** Letters-and-digits values worth a parse at paranoia 1 (everything else made of letters and digits is skipped). */
const ALNUM_SUSPECTS = new Set(['msysaccessobjects', 'msysobjects', 'msysqueries', 'sysobjects', 'syscolumns', 'sysdatabases', 'tempdb', 'msdb', 'msdasql', 'openrowset', 'opendatasource']);

/**
 * The words that make a value not plain for `sqliPlain`: the keywords, `DANGER_WORDS`, `DB_NAMES` and
 * `ALNUM_SUSPECTS` in one set (one lookup per word instead of four), built on first use.
 */
let PLAIN_STOP: Set<string> | undefined;

/**
 * Whether a value made only of letters, digits and `_` (which the engine otherwise never hands to the
 * tokeniser: `page`, `cus_42`) is SQL-only vocabulary worth a parse: a system catalog, an extended
 * procedure or a well-known system database name (`information_schema`, `pg_catalog`, `tempdb`),
 * also dotted (`information_schema.tables`, `master..sysdatabases`).
 */
export function sqliTokenSuspect(v: string): boolean {
  if (v.length <= 3 || v.length > 64) return false;
  TOKEN_SUSPECTS ??= new Set([...DANGER_WORDS, ...ALNUM_SUSPECTS, ...DB_NAMES]);
  return TOKEN_SUSPECTS.has(v) || (v.includes('.') && dottedDanger(v));
}

/** `DANGER_WORDS`, `ALNUM_SUSPECTS` and `DB_NAMES` in one set (one lookup instead of three), built on first use. */
let TOKEN_SUSPECTS: Set<string> | undefined;

/** Database names reported at paranoia 1. */
const DB_NAMES_PL1 = new Set(['tempdb', 'msdb', 'mysql.db', 'pg_sleep', 'master..sysdatabases', 'master.dbo']);

/** Names of well-known system / sample databases: suspicious, but also ordinary words. */
const DB_NAMES = new Set([
  'msdb', 'tempdb', 'northwind', 'mysql.db', 'schema_name', 'table_name', 'column_name', 'table_schema', 'pg_class',
  'pg_namespace', 'pg_attribute', 'master..sysdatabases', 'master.dbo', 'nvarchar', 'varchar', 'pg_sleep',
]);

const SYS_VARS = new Set([
  '@@version', '@@datadir', '@@hostname', '@@basedir', '@@servername', '@@language', '@@spid', '@@version_compile_os',
  '@@tmpdir', '@@global', '@@session', '@@identity', '@@rowcount', '@@secure_file_priv', '@@plugin_dir', '@@sql_mode',
]);

const NOSQL_OPERATORS = new Set([
  '$ne', '$eq', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', '$regex', '$where', '$exists', '$not', '$nor', '$or', '$and',
  '$elemmatch', '$expr', '$text', '$function', '$accumulator', '$jsonschema', '$type', '$mod', '$all', '$size',
]);

// ---------------------------------------------------------------------------------------------
// Tokeniser

/** ASCII character classes: 1 = word character, 2 = space. */
const ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const word = (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 || c === 36 || c === 46;
  ASCII[c] = word ? 1 : c <= 32 || c === 0x7f ? 2 : 0;
}

function isWordChar(c: number): boolean {
  if (c < 128) return ASCII[c] === 1;
  return (c >= 0xc0 && c !== 0xd7 && c !== 0xf7 && c < 0x2000) || (c > 0x206f && c !== 0x3000 && c !== 0xfeff && c !== 0xff07 && c !== 0xff02);
}

function isWordStart(c: number): boolean {
  return isWordChar(c) && c !== 46 && !(c >= 48 && c <= 57);
}

function isSpace(c: number): boolean {
  if (c < 128) return ASCII[c] === 2;
  return c === 0xa0 || c === 0x2028 || c === 0x2029 || c === 0x3000 || c === 0xfeff || (c >= 0x2000 && c <= 0x200b);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}


/** Finds the end of a quoted string body starting at `from` (after the opening quote): index of the closing quote or -1. */
function closeQuote(s: string, from: number, end: number, q: string): number {
  let j = from;
  for (;;) {
    const k = s.indexOf(q, j);
    if (k < 0 || k >= end) return -1;
    if (k + 1 < end && s.charCodeAt(k + 1) === s.charCodeAt(k)) {
      j = k + 2; // doubled quote: an escaped quote inside the string
      continue;
    }
    return k;
  }
}

/** Flags returned by the tokeniser. */
const F_EXEC = 1; // MySQL /*! executable comment
const F_HINT = 2; // /*+ optimizer hint */

/** The first unescaped quote when a backslash escapes the next character (MySQL strings); -1 if none. */
function closeQuoteBackslash(s: string, end: number, quote: number): number {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c === 92) i++;
    else if (c === quote) {
      if (i + 1 < end && s.charCodeAt(i + 1) === quote) i++;
      else return i;
    }
  }
  return -1;
}

function tokenize(s: string, start: number, end: number, out: Tok[]): number {
  let i = start;
  let ws = true;
  let flags = 0;
  const push = (t: number, v: string, open = false, k = 0): void => {
    out.push({ t, v, ws, open, k, cm: false, m: -1 });
    ws = false;
  };
  while (i < end && out.length < MAX_TOKENS) {
    const c = s.charCodeAt(i);
    const n1 = i + 1 < end ? s.charCodeAt(i + 1) : 0;
    if (isSpace(c) || c === 123 || c === 125) {
      // whitespace; `{` `}` (ODBC escapes, templates) count as whitespace
      i++;
      ws = true;
      continue;
    }
    if (c === 47 && n1 === 42) {
      // /* … */ or MySQL /*! … */
      if (i + 2 < end && s.charCodeAt(i + 2) === 33) {
        flags |= F_EXEC;
        i += 3;
        while (i < end && isDigit(s.charCodeAt(i))) i++;
        ws = true;
        continue;
      }
      const close = s.indexOf('*/', i + 2);
      const open = close < 0 || close + 2 > end;
      if (i + 2 < end && s.charCodeAt(i + 2) === 43) flags |= F_HINT;
      // an unterminated `/*` right after a word or a slash is a path or glob (`/a/*`), not an evasion
      const before = i > 0 ? s.charCodeAt(i - 1) : 0;
      push(T_COMMENT, open && (isWordChar(before) || before === 47) ? 'loose' : '', open, 1);
      i = open ? end : close + 2;
      ws = true;
      continue;
    }
    if (c === 42 && n1 === 47) {
      // stray */ (end of an executable comment)
      i += 2;
      ws = true;
      continue;
    }
    if ((c === 45 && n1 === 45) || (c === 35 && n1 !== 62)) {
      // -- or # to end of line; `--flag` and `#anchor` (a word right after) are 'loose' comments:
      // MySQL needs a space after `--`, and attacks end the query with `--`, `-- -`, `#` or `# `
      const nl = s.indexOf('\n', i);
      const after = c === 45 ? (i + 2 < end ? s.charCodeAt(i + 2) : 0) : n1;
      // loose too: `-->` arrows, `---` rules, `##` and line-initial `# ` markdown headings
      const lineStart = i === 0 || s.charCodeAt(i - 1) === 10;
      const loose =
        (isWordChar(after) && after !== 46) || after === 39 || after === 34 || after === 96 || after === 62 || (c === 45 && after === 45) ||
        (c === 35 && (after === 35 || (lineStart && i > 0)));
      push(T_COMMENT, loose ? 'loose' : '', false, 2);
      i = nl < 0 || nl >= end ? end : nl + 1;
      ws = true;
      continue;
    }
    if (c === 39 || c === 34) {
      const q = c === 39 ? "'" : '"';
      const close = closeQuote(s, i + 1, end, q);
      // v marks a string whose text starts with a space: in `the 'or' operator` the last string is prose
      push(T_STR, i + 1 < end && isSpace(s.charCodeAt(i + 1)) ? ' ' : '', close < 0, c);
      i = close < 0 ? end : close + 1;
      continue;
    }
    if (c === 96) {
      // `identifier`
      const close = s.indexOf('`', i + 1);
      const stop = close < 0 || close >= end ? end : close;
      push(T_WORD, stop - i - 1 <= 40 ? s.slice(i + 1, stop).toLowerCase() : '', close < 0 || close >= end, 96);
      i = stop + 1;
      continue;
    }
    if (isDigit(c) || (c === 46 && isDigit(n1))) {
      let j = i;
      if (c === 48 && (n1 === 120 || n1 === 88) && i + 2 < end && isHex(s.charCodeAt(i + 2))) {
        j = i + 2;
        while (j < end && isHex(s.charCodeAt(j))) j++;
        push(T_NUM, '0x' + (j - i - 2 >= 4 ? 'h' : ''));
        i = j;
        continue;
      }
      if (c === 48 && (n1 === 98 || n1 === 66) && i + 2 < end && (s.charCodeAt(i + 2) === 48 || s.charCodeAt(i + 2) === 49)) {
        j = i + 2;
        while (j < end && (s.charCodeAt(j) === 48 || s.charCodeAt(j) === 49)) j++;
        push(T_NUM, '0b');
        i = j;
        continue;
      }
      while (j < end && isDigit(s.charCodeAt(j))) j++;
      if (j < end && s.charCodeAt(j) === 46) {
        j++;
        while (j < end && isDigit(s.charCodeAt(j))) j++;
      }
      if (j < end && (s.charCodeAt(j) === 101 || s.charCodeAt(j) === 69)) {
        const e1 = j + 1 < end ? s.charCodeAt(j + 1) : 0;
        if (isDigit(e1)) {
          j += 1;
          while (j < end && isDigit(s.charCodeAt(j))) j++;
        } else if ((e1 === 43 || e1 === 45) && j + 2 < end && isDigit(s.charCodeAt(j + 2))) {
          j += 2;
          while (j < end && isDigit(s.charCodeAt(j))) j++;
        } else if (s.charCodeAt(j - 1) === 46) {
          j += 1; // MySQL `1.e`
        }
      }
      push(T_NUM, j - i <= 12 ? s.slice(i, j) : 'n');
      i = j;
      continue;
    }
    if (isWordStart(c)) {
      let j = i + 1;
      let dot = -1;
      let upper = c >= 65 && c <= 90;
      for (; j < end; j++) {
        const d = s.charCodeAt(j);
        if (!isWordChar(d)) break;
        if (d === 46 && dot < 0) dot = j;
        else if (d >= 65 && d <= 90) upper = true;
      }
      // x'41' b'01' hex/bit strings, N'…' E'…' strings
      if (j === i + 1 && j < end && s.charCodeAt(j) === 39) {
        const lc = c | 32;
        if (lc === 120 || lc === 98 || lc === 110 || lc === 101) {
          const close = closeQuote(s, j + 1, end, "'");
          push(lc === 120 || lc === 98 ? T_NUM : T_STR, lc === 120 ? '0xh' : '', close < 0, 39);
          i = close < 0 ? end : close + 1;
          continue;
        }
      }
      // trailing dots belong to punctuation, not to the word; `select.1` is SELECT .1
      let stop = j;
      while (stop > i + 1 && s.charCodeAt(stop - 1) === 46) stop--;
      if (dot > i && dot < stop && dot - i <= 9) {
        const head = s.slice(i, dot).toLowerCase();
        const ht = KEYWORDS.get(head);
        if (ht === T_STMT || ht === T_UNION || (ht === T_KEY && (head === 'from' || head === 'where'))) stop = dot;
      }
      const word = stop - i > 40 ? '' : upper ? s.slice(i, stop).toLowerCase() : s.slice(i, stop);
      if (c === 36 && (stop === i + 1 || (stop === i + 2 && s.charCodeAt(i + 1) === 36))) {
        push(T_OTHER, '$');
        i = stop;
        continue;
      }
      const kt = KEYWORDS.get(word);
      push(kt ?? T_WORD, word);
      i = stop;
      continue;
    }
    if (c === 64) {
      // @var, @@sysvar
      let j = i + 1;
      let prefix = '@';
      if (n1 === 64) {
        j++;
        prefix = '@@';
      }
      const k0 = j;
      while (j < end && isWordChar(s.charCodeAt(j)) && s.charCodeAt(j) !== 36) j++;
      if (j === k0) {
        push(T_OTHER, prefix);
        i = j;
        continue;
      }
      push(T_VAR, j - k0 <= 40 ? prefix + s.slice(k0, j).toLowerCase() : prefix);
      i = j;
      continue;
    }
    switch (c) {
      case 40:
        push(T_LP, '(');
        i++;
        continue;
      case 41:
        push(T_RP, ')');
        i++;
        continue;
      case 44:
        push(T_COMMA, ',');
        i++;
        continue;
      case 59:
        push(T_SEMI, ';');
        i++;
        continue;
      case 61: {
        // = == ===
        let j = i + 1;
        while (j < end && j < i + 3 && s.charCodeAt(j) === 61) j++;
        push(T_CMP, '=');
        i = j;
        continue;
      }
      case 60: {
        // < <= <> <=> << <@
        if (n1 === 61 && i + 2 < end && s.charCodeAt(i + 2) === 62) {
          push(T_CMP, '<=>');
          i += 3;
        } else if (n1 === 61 || n1 === 62) {
          push(T_CMP, n1 === 61 ? '<=' : '<>');
          i += 2;
        } else if (n1 === 60 || n1 === 64) {
          push(T_OP, n1 === 60 ? '<<' : '<@');
          i += 2;
        } else {
          push(T_CMP, '<');
          i++;
        }
        continue;
      }
      case 62:
        if (n1 === 61) {
          push(T_CMP, '>=');
          i += 2;
        } else if (n1 === 62) {
          push(T_OP, '>>');
          i += 2;
        } else {
          push(T_CMP, '>');
          i++;
        }
        continue;
      case 33: // !
        if (n1 === 61 || n1 === 60 || n1 === 62) {
          push(T_CMP, '!=');
          i += 2;
          if (i < end && s.charCodeAt(i) === 61) i++;
        } else {
          push(T_OP, '!');
          i++;
        }
        continue;
      case 124: // |
        if (n1 === 124) {
          push(T_LOGIC, '||');
          i += 2;
        } else {
          push(T_OP, '|');
          i++;
        }
        continue;
      case 38: // &
        if (n1 === 38) {
          push(T_LOGIC, '&&');
          i += 2;
        } else {
          push(T_OP, '&');
          i++;
        }
        continue;
      case 58: // :
        if (n1 === 58 || n1 === 61) {
          push(T_OP, n1 === 58 ? '::' : ':=');
          i += 2;
        } else {
          push(T_OTHER, ':');
          i++;
        }
        continue;
      case 45: // - -> ->>
        if (n1 === 62) {
          const three = i + 2 < end && s.charCodeAt(i + 2) === 62;
          push(T_OP, three ? '->>' : '->');
          i += three ? 3 : 2;
        } else {
          push(T_OP, '-');
          i++;
        }
        continue;
      case 35: // #> #>>
        push(T_OP, '#>');
        i += 2;
        if (i < end && s.charCodeAt(i) === 62) i++;
        continue;
      case 43:
      case 42:
      case 47:
      case 37:
      case 94:
      case 126:
        push(T_OP, String.fromCharCode(c));
        i++;
        continue;
      case 63: // ? ?| ?&
        if (n1 === 124 || n1 === 38) {
          push(T_OP, '?' + String.fromCharCode(n1));
          i += 2;
        } else {
          push(T_OP, '?');
          i++;
        }
        continue;
      default:
        push(T_OTHER, c === 92 ? '\\' : c === 46 ? '.' : '?');
        i++;
    }
  }
  return flags;
}

// ---------------------------------------------------------------------------------------------
// Folding

/** Tokens that are words (a comment glued to one of them is an evasion). */
const WORDISH = new Set([T_WORD, T_STMT, T_KEY, T_UNION, T_LOGIC, T_CMP, T_FUNC, T_NOT, T_BY, T_WAIT, T_FILE]);

/** Statement keywords: a comment glued to one side of them is already an evasion. */
const KEYWORDISH = new Set([T_STMT, T_UNION]);

const UNARY_AFTER = new Set([T_END, T_LOGIC, T_CMP, T_OP, T_LP, T_COMMA, T_STMT, T_KEY, T_UNION, T_SEMI, T_NOT, T_BY]);

/** Folds raw tokens in place of a new array; the last raw token, if a comment, is kept as `c`. */
function fold(raw: Tok[]): Tok[] {
  const out: Tok[] = [];
  let pendingComment = false;
  for (let i = 0; i < raw.length; i++) {
    const tok = raw[i]!;
    const prev = out.length > 0 ? out[out.length - 1]! : END;
    if (tok.t === T_COMMENT) {
      if (i === raw.length - 1) {
        out.push(tok);
      } else if (tok.k === 1) {
        // an inline comment glued to the words around it (`UNION/**/SELECT`): a classic filter evasion
        const next = raw[i + 1]!;
        const left = !tok.ws && out.length > 0 && WORDISH.has(prev.t);
        const right = !next.ws && WORDISH.has(next.t);
        if ((left && right) || (left && KEYWORDISH.has(prev.t))) prev.cm = true;
        if ((left && right) || (right && KEYWORDISH.has(next.t))) pendingComment = true;
      }
      continue;
    }
    if (pendingComment) {
      tok.cm = true;
      pendingComment = false;
    }
    if (tok.t === T_STR && prev.t === T_STR) {
      prev.open = tok.open;
      continue;
    }
    const v = tok.v;
    if (tok.t === T_KEY || tok.t === T_WORD) {
      if (prev.t === T_UNION && (v === 'all' || v === 'distinct' || v === 'distinctrow')) continue;
      if (v === 'by' && prev.t === T_KEY && (prev.v === 'order' || prev.v === 'group')) {
        prev.t = T_BY;
        continue;
      }
      if ((v === 'delay' || v === 'time') && prev.t === T_STMT && prev.v === 'waitfor') {
        prev.t = T_WAIT;
        continue;
      }
      if ((v === 'outfile' || v === 'dumpfile') && prev.t === T_KEY && prev.v === 'into') {
        prev.t = T_FILE;
        continue;
      }
      if (v === 'to' && prev.t === T_CMP && prev.v === 'similar') continue;
    }
    if (tok.t === T_CMP) {
      if (v === 'like' && prev.t === T_CMP && prev.v === 'sounds') continue;
      if (prev.t === T_NOT && (v === 'like' || v === 'in' || v === 'between' || v === 'regexp' || v === 'rlike' || v === 'glob' || v === 'similar' || v === 'ilike')) {
        prev.t = T_CMP;
        prev.v = 'not ' + v;
        continue;
      }
    }
    if (tok.t === T_NOT && prev.t === T_CMP && prev.v === 'is') {
      prev.v = 'is not';
      continue;
    }
    if (tok.t === T_OP && (v === '-' || v === '+' || v === '!' || v === '~') && UNARY_AFTER.has(prev.t)) continue;
    out.push(tok);
  }
  // matching parentheses
  const stack: number[] = [];
  for (let i = 0; i < out.length; i++) {
    const t = out[i]!.t;
    if (t === T_LP) stack.push(i);
    else if (t === T_RP && stack.length > 0) {
      const o = stack.pop()!;
      out[o]!.m = i;
      out[i]!.m = o;
    }
  }
  // words followed by `(` are function names
  for (let i = 0; i + 1 < out.length; i++) {
    const tok = out[i]!;
    if (out[i + 1]!.t !== T_LP) continue;
    if (tok.t === T_WORD) {
      // a bareword followed by a parenthesis after a space is prose unless it is a SQL function
      if (!out[i + 1]!.ws || SQL_FUNCS.has(tok.v) || DANGER_FUNCS.has(tok.v)) tok.t = T_FUNC;
    } else if (tok.t === T_OP && (tok.v === 'mod' || tok.v === 'div')) {
      tok.t = T_FUNC;
    } else if (tok.t === T_KEY || tok.t === T_STMT || tok.t === T_CMP) {
      const v = tok.v;
      if (v === 'if' || v === 'replace' || v === 'insert' || v === 'database' || v === 'schema' || v === 'values' || v === 'exists' || v === 'default' || v === 'left' || v === 'right' || v === 'glob' || v === 'match' || v === 'isnull' || v === 'analyse') {
        tok.t = T_FUNC;
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Judging

interface Hit {
  pl: Level;
  reason: string;
  at: number;
  context: string;
}

class Judge {
  readonly T: Tok[];
  readonly quoted: boolean;
  best: Hit | null = null;

  /** the context reported for hits: the parse phase */
  phase: string;

  /** the quote context is MySQL's backtick identifier quoting: weaker evidence (markdown uses backticks) */
  backtick = false;

  constructor(T: Tok[], quoted: boolean, phase: string) {
    this.T = T;
    this.quoted = quoted;
    this.phase = phase;
  }

  at(i: number): Tok {
    return i >= 0 && i < this.T.length ? this.T[i]! : END;
  }

  hit(pl: Level, reason: string, at: number): void {
    if (this.best === null || pl < this.best.pl) this.best = { pl, reason, at, context: this.phase };
  }

  fingerprint(from: number): string {
    let fp = '';
    for (let i = Math.max(0, from); i < this.T.length && fp.length < 8; i++) fp += CODES[this.T[i]!.t] ?? '?';
    return fp;
  }

  isLiteral(i: number): boolean {
    const tok = this.at(i);
    return tok.t === T_NUM || tok.t === T_STR || (tok.t === T_KEY && (tok.v === 'null' || tok.v === 'true' || tok.v === 'false'));
  }

  isOperandStart(i: number): boolean {
    const t = this.at(i).t;
    return t === T_NUM || t === T_STR || t === T_WORD || t === T_VAR || t === T_FUNC || t === T_LP || (t === T_KEY && this.isLiteral(i));
  }

  /** Index after the operand starting at i (a function call or parenthesised group counts as one). */
  skipOperand(i: number): number {
    const t = this.at(i).t;
    if (t === T_FUNC) {
      const m = this.at(i + 1).m;
      return m < 0 ? this.T.length : m + 1;
    }
    if (t === T_LP) {
      const m = this.at(i).m;
      return m < 0 ? this.T.length : m + 1;
    }
    return i + 1;
  }

  /** Index after `operand (op operand)*`, following `::type` casts. */
  skipExpr(i: number): number {
    let j = this.skipOperand(i);
    for (let guard = 0; guard < 64; guard++) {
      const tok = this.at(j);
      if (tok.t === T_OP && this.isOperandStart(j + 1)) j = this.skipOperand(j + 1);
      else break;
    }
    return j;
  }

  /** 1 = dangerous (time delay with a numeric argument, error-based, file access), 2 = a SQL function, 0 = unknown. */
  funcDanger(i: number): Level | 0 {
    const name = this.at(i).v;
    if (TIME_FUNCS.has(name)) {
      const a = this.at(i + 2);
      const b = this.at(i + 3);
      if (a.t === T_NUM && (b.t === T_RP || b.t === T_COMMA || b.t === T_OP || b.t === T_END || name === 'benchmark')) return 1;
      if (a.t === T_LP || a.t === T_FUNC || a.t === T_STMT || (a.t === T_STR && b.t === T_RP)) return 1;
      return 2;
    }
    if (DANGER_FUNCS.has(name)) return 1;
    if (SQL_FUNCS.has(name)) return 2;
    return 0;
  }

  /** Is the token before i something after which a SQL expression naturally continues? */
  sqlPosition(i: number): boolean {
    const p = this.at(i - 1).t;
    return (
      p === T_END || p === T_LOGIC || p === T_CMP || p === T_OP || p === T_LP || p === T_COMMA || p === T_SEMI || p === T_STMT ||
      p === T_UNION || p === T_KEY || p === T_NOT || p === T_OTHER || (p === T_STR && this.quoted && i === 1)
    );
  }

  isEndish(i: number): boolean {
    const tok = this.at(i);
    const t = tok.t;
    return (
      t === T_END || t === T_COMMA || t === T_COMMENT || t === T_SEMI || t === T_RP || t === T_UNION || t === T_BY ||
      (t === T_KEY && (tok.v === 'from' || tok.v === 'as' || tok.v === 'into' || tok.v === 'where' || tok.v === 'limit'))
    );
  }

  /** Is the token at i a plausible end of a FROM clause's table reference? */
  tableTail(i: number): boolean {
    const tok = this.at(i);
    const t = tok.t;
    return (
      t === T_END || t === T_RP || t === T_SEMI || t === T_COMMENT || t === T_COMMA || t === T_UNION || t === T_BY ||
      (t === T_KEY && (tok.v === 'where' || tok.v === 'limit' || tok.v === 'join' || tok.v === 'as' || tok.v === 'having' || tok.v === 'offset')) ||
      (t === T_WORD && (tok.v === 'inner' || tok.v === 'left' || tok.v === 'outer' || tok.v === 'cross' || tok.v === 'natural' || tok.v === 'dual'))
    );
  }

  /**
   * What follows SELECT: 3 = unmistakably a select list (a function call, variable, subquery, hex
   * literal, list of numbers), 2 = a select list (`* from`, columns from a table, a literal), 1 =
   * weak, 0 = prose.
   */
  selectList(i: number): 0 | 1 | 2 | 3 {
    let j = i;
    let paren = false;
    if (this.at(j).t === T_LP) {
      j++;
      paren = true;
    }
    const tok = this.at(j);
    const nx = this.at(j + 1);
    switch (tok.t) {
      case T_NUM:
        if (tok.v === '0xh') return 3;
        if (nx.t === T_COMMA && (this.at(j + 2).t === T_NUM || this.isLiteral(j + 2))) return 3;
        return this.isEndish(j + 1) || nx.t === T_OP || nx.t === T_CMP ? 2 : 0;
      case T_STR:
        return this.isEndish(j + 1) || nx.t === T_OP || nx.t === T_CMP ? 2 : 0;
      case T_VAR:
      case T_FUNC:
        return 3;
      case T_STMT:
        return paren && tok.v === 'select' ? 3 : 0;
      case T_LP:
        return 3;
      case T_OP:
        if (tok.v === '*') return nx.t === T_END || nx.t === T_COMMA || nx.t === T_RP || nx.t === T_COMMENT || (nx.t === T_KEY && nx.v === 'from') ? 2 : 0;
        return 0;
      case T_KEY:
        if (tok.v === 'null') return nx.t === T_COMMA ? 3 : this.isEndish(j + 1) ? 2 : 0;
        if (tok.v === 'true' || tok.v === 'false') return this.isEndish(j + 1) ? 2 : 0;
        if (tok.v === 'case') return 3;
        if (tok.v === 'distinct' || tok.v === 'distinctrow' || tok.v === 'top') return 2;
        return 0;
      case T_WORD: {
        if (DANGER_WORDS.has(tok.v)) return 3;
        // col [, col]* from table …
        let k = j + 1;
        for (let guard = 0; guard < 32 && this.at(k).t === T_COMMA && (this.at(k + 1).t === T_WORD || this.at(k + 1).t === T_NUM || this.at(k + 1).t === T_FUNC); guard++) {
          k = this.skipOperand(k + 1);
        }
        const after = this.at(k);
        if (after.t === T_BY || (after.t === T_KEY && (after.v === 'where' || after.v === 'having'))) return 2;
        if (after.t === T_KEY && after.v === 'from') {
          const tbl = this.at(k + 1);
          if (tbl.t === T_LP) return 3;
          if (tbl.t === T_WORD && this.tableTail(k + 2)) return 2;
          return tbl.t === T_WORD ? 1 : 0;
        }
        return 0;
      }
      default:
        return 0;
    }
  }

  /** Does a SQL statement start at i? 3 = unmistakable, 2 = a statement, 1 = plausible, 0 = no. */
  statement(i: number): 0 | 1 | 2 | 3 {
    const tok = this.at(i);
    const nx = this.at(i + 1);
    const nx2 = this.at(i + 2);
    if (tok.t === T_WAIT) return nx.t === T_STR ? 3 : 2;
    if (tok.t !== T_STMT) return 0;
    switch (tok.v) {
      case 'select':
        return this.selectList(i + 1);
      case 'insert':
      case 'replace':
        if (nx.t === T_KEY && nx.v === 'into' && (nx2.t === T_WORD || nx2.t === T_FUNC || (nx2.t === T_KEY && nx2.v === 'table'))) {
          const a = this.at(i + 3);
          if (nx2.t === T_FUNC || a.t === T_LP || a.t === T_END || a.t === T_SEMI || (a.t === T_KEY && a.v === 'values') || (a.t === T_STMT && (a.v === 'select' || a.v === 'set'))) return 3;
          return 1;
        }
        if (tok.v === 'replace' && nx.t === T_WORD && nx2.t === T_LP) {
          const m = this.at(i + 2).m;
          return m > 0 && this.at(m + 1).v === 'values' ? 3 : 2;
        }
        return 0;
      case 'update':
        if ((nx.t === T_WORD || nx.t === T_STR) && nx2.t === T_STMT && nx2.v === 'set') {
          const a = this.at(i + 3);
          return (a.t === T_WORD || a.t === T_VAR) && this.at(i + 4).t === T_CMP ? 3 : 1;
        }
        return 0;
      case 'delete':
        if (nx.t === T_KEY && nx.v === 'from' && nx2.t === T_WORD) {
          const a = this.at(i + 3);
          if (a.t === T_SEMI || a.t === T_COMMENT || (a.t === T_KEY && (a.v === 'where' || a.v === 'limit'))) return 3;
          return a.t === T_END ? 2 : 0;
        }
        return 0;
      case 'drop':
      case 'create':
      case 'alter':
      case 'truncate':
      case 'rename': {
        const object =
          (nx.t === T_KEY && (nx.v === 'table' || nx.v === 'database' || nx.v === 'schema' || nx.v === 'procedure')) ||
          (nx.t === T_WORD && (nx.v === 'view' || nx.v === 'index' || nx.v === 'trigger' || nx.v === 'user' || nx.v === 'login' || nx.v === 'column' || nx.v === 'function' || nx.v === 'temporary' || nx.v === 'tablespace'));
        if (object) {
          if (nx2.t === T_KEY && nx2.v === 'if') return 3;
          if (nx2.t !== T_WORD && nx2.t !== T_FUNC && nx2.t !== T_STR) return 1;
          const a = this.at(i + 3);
          if (nx2.t === T_FUNC || a.t === T_END || a.t === T_SEMI || a.t === T_COMMENT || a.t === T_LP) return 3;
          if (a.t === T_WORD && (a.v === 'add' || a.v === 'modify' || a.v === 'change' || a.v === 'engine' || a.v === 'character' || a.v === 'rename' || a.v === 'cascade')) return 3;
          if ((a.t === T_STMT && (a.v === 'drop' || a.v === 'alter' || a.v === 'rename')) || (a.t === T_KEY && a.v === 'as')) return 3;
          return 1;
        }
        if ((tok.v === 'drop' || tok.v === 'truncate') && (nx.t === T_WORD || nx.t === T_STR) && (nx2.t === T_SEMI || nx2.t === T_COMMENT)) return 2;
        if (tok.v === 'truncate' && (nx.t === T_OTHER || nx.t === T_WORD)) {
          const a = this.at(nx.t === T_OTHER ? i + 3 : i + 2);
          return a.t === T_END || a.t === T_SEMI || a.t === T_COMMENT ? 3 : 2;
        }
        return 0;
      }
      case 'exec':
      case 'execute': {
        if (nx.t === T_WORD || nx.t === T_FUNC) {
          const v = nx.v;
          if (v.startsWith('xp_') || v.startsWith('sp_') || v === 'master' || v.startsWith('master.') || v.startsWith('dbo.') || DANGER_WORDS.has(v)) return 3;
          if (nx2.t === T_END || nx2.t === T_SEMI) return 1;
          return 0;
        }
        if (nx.t === T_VAR) return 3;
        if (nx.t === T_LP) return nx2.t === T_VAR || nx2.t === T_STR || nx2.t === T_FUNC || (nx2.t === T_OTHER && nx2.v === '@') ? 3 : 1;
        if (nx.t === T_KEY && nx.v === 'immediate') return 3;
        return 0;
      }
      case 'declare':
        return nx.t === T_VAR && (nx2.t === T_END || nx2.t === T_SEMI || (nx2.t === T_WORD && SQL_TYPES.has(nx2.v)) || nx2.t === T_FUNC || (nx2.t === T_KEY && nx2.v === 'table')) ? 3 : 0;
      case 'set':
        return nx.t === T_VAR && (nx2.t === T_CMP || nx2.t === T_OP || nx2.t === T_END || nx2.t === T_SEMI || nx2.t === T_COMMA) ? 3 : 0;
      case 'shutdown':
        return nx.t === T_END || nx.t === T_COMMENT || nx.t === T_SEMI || (nx.t === T_KEY && nx.v === 'with') ? 3 : 0;
      case 'prepare':
        return nx.t === T_WORD && nx2.t === T_KEY && nx2.v === 'from' ? 3 : 0;
      case 'load':
        return nx.t === T_WORD && (nx.v === 'data' || nx.v === 'xml') && nx2.v === 'infile' ? 3 : 0;
      case 'grant':
      case 'revoke':
        return nx.t === T_KEY && nx.v === 'all' ? 1 : 0;
      case 'call':
        return nx.t === T_FUNC ? 1 : 0;
      default:
        return 0;
    }
  }

  /** `1=1`, `42 like 42`, `11!=1` as a value of its own (or after a comma): a tautology probe. */
  comparison(a: number, afterA: number): void {
    const op = this.at(afterA);
    if (op.t !== T_CMP || afterA !== a + 1 || !this.isLiteral(a)) return;
    const b = afterA + 1;
    if (!this.isLiteral(b)) return;
    const tail = this.at(b + 1);
    if (!(tail.t === T_END || tail.t === T_COMMENT || tail.t === T_SEMI || tail.t === T_COMMA || tail.t === T_RP || tail.t === T_LOGIC || tail.t === T_CMP)) return;
    const same = this.at(a).t !== T_STR && this.at(a).v === this.at(b).v;
    const ordering = op.v === '<' || op.v === '>' || op.v === '<=' || op.v === '>=';
    this.hit(same || !ordering || tail.t === T_CMP ? 1 : 2, 'literal comparison', a);
  }

  /** Are the tokens in [from, to) literals separated by commas? */
  literalArgs(from: number, to: number): boolean {
    for (let k = from; k < to; k++) {
      const t = this.at(k).t;
      if ((k - from) % 2 === 0 ? !this.isLiteral(k) : t !== T_COMMA) return false;
    }
    return true;
  }

  /** Does the value end with a comment that ends a query (`--`, `-- -`, `#`, `/*`)? */
  lastIsComment(): boolean {
    if (this.T.length === 0) return false;
    const last = this.T[this.T.length - 1]!;
    return last.t === T_COMMENT && last.v !== 'loose';
  }

  /**
   * What follows a value — a closed string in the quote contexts, a leading number or bareword (or
   * none: `virtual`) in the number context: a boolean condition, UNION, a stacked statement, a comment …
   */
  afterValue(i: number, virtual: boolean): void {
    const q = this.quoted;
    const where = q ? 'closed quote' : 'value';
    let j = i;
    let parens = 0;
    while (this.at(j).t === T_RP) {
      j++;
      parens++;
    }
    const tok = this.at(j);
    const nx = this.at(j + 1);
    switch (tok.t) {
      case T_END:
        if (q && parens > 0) this.hit(3, 'closing parenthesis after closed quote', i);
        return;
      case T_COMMENT:
        if (q && (tok.v === 'loose' || this.backtick)) this.hit(2, 'comment after closed quote', i);
        else if (q) this.hit(1, 'comment after closed quote', i);
        else if (parens > 0 && !virtual) this.hit(2, 'comment after closing parenthesis', i);
        else if (!virtual && !tok.ws) this.hit(3, 'comment after value', i);
        return;
      case T_LOGIC:
        this.logic(j + 1, parens, virtual);
        return;
      case T_NOT:
        this.logic(j, parens, virtual, 2);
        return;
      case T_UNION: {
        const sel = nx.t === T_STMT && nx.v === 'select' ? 1 : nx.t === T_LP && this.at(j + 2).v === 'select' ? 2 : 0;
        if (sel > 0) this.hit(1, 'UNION SELECT after ' + where, i);
        else if (q) this.hit(2, 'UNION after closed quote', i);
        else if (!virtual && tok.ws) this.hit(3, 'UNION after value', i);
        return;
      }
      case T_SEMI: {
        const st = this.statement(j + 1);
        if (q) {
          if (st >= 2 || nx.t === T_STMT || nx.t === T_WAIT) this.hit(1, 'stacked query after closed quote', i);
          else if (nx.t === T_COMMENT) this.hit(this.backtick || nx.v === 'loose' ? 2 : 1, 'statement end and comment after closed quote', i);
          else if (nx.t === T_END) this.hit(this.backtick || parens > 0 ? 2 : 1, 'statement end after closed quote', i);
          else this.hit(st === 1 ? 2 : 3, 'semicolon after closed quote', i);
        } else if (st > 0) {
          this.hit(st === 3 ? 1 : st === 2 ? 2 : 3, 'stacked query after value', i);
        }
        return;
      }
      case T_WAIT:
        this.hit(1, 'WAITFOR DELAY after ' + where, i);
        return;
      case T_FILE:
        this.hit(1, 'INTO OUTFILE after ' + where, i);
        return;
      case T_BY:
        if (nx.t === T_NUM || nx.t === T_WORD || nx.t === T_FUNC || nx.t === T_LP) {
          this.hit(q || parens > 0 || this.lastIsComment() ? 1 : 2, 'ORDER/GROUP BY after ' + where, i);
        }
        return;
      case T_CMP:
      case T_OP:
      case T_OTHER: {
        // `x'=email--`, `'||(select…`, `'+sleep(5)+'`, `'.sleep(5).'`, `' = # '`
        const k = j + 1;
        if (this.at(k).t === T_FUNC) {
          const d = this.funcDanger(k);
          if (d === 1) this.hit(1, 'dangerous function after ' + where, i);
          else if (d === 2 && tok.t !== T_OTHER) this.hit(q ? 2 : 3, 'SQL function after operator', i);
        }
        if (tok.t === T_OTHER) return;
        const after = this.isOperandStart(k) ? this.skipExpr(k) : k;
        const tail = this.at(after);
        if (this.at(k).t === T_LP && this.at(k + 1).t === T_STMT && this.at(k + 1).v === 'select') this.hit(1, 'subquery after operator', i);
        if (q && this.lastIsComment()) this.hit(1, 'expression after closed quote ended by comment', i);
        if (q && tail.t === T_LOGIC) this.logic(after + 1, parens, virtual, 2);
        if (q && tok.t === T_CMP && after > k && (tail.t === T_SEMI || tail.t === T_COMMENT)) this.hit(1, 'comparison after closed quote', i);
        if (q && tok.t === T_CMP) this.hit(tail.t === T_END || tail.t === T_STR ? 2 : 3, 'comparison after closed quote', i);
        return;
      }
      case T_FUNC: {
        // juxtaposed function (a `+` that became a space): `'+sleep(5)+'`
        const d = this.funcDanger(j);
        if (q && (d === 1 || TIME_FUNCS.has(tok.v))) this.hit(1, 'dangerous function after closed quote', i);
        else if (q && d === 2) this.hit(2, 'SQL function after closed quote', i);
        return;
      }
      case T_KEY:
        if (tok.v === 'collate' || tok.v === 'procedure' || tok.v === 'having' || tok.v === 'limit' || tok.v === 'into') {
          this.hit(q && this.lastIsComment() ? 1 : q ? 2 : 3, tok.v.toUpperCase() + ' after ' + where, i);
        }
        return;
      case T_STMT: {
        const st = this.statement(j);
        if (q && st >= 2) this.hit(2, 'statement after closed quote', i);
        else if (q && (tok.v === 'select' || tok.v === 'alter' || tok.v === 'drop' || tok.v === 'exec' || tok.v === 'execute')) this.hit(2, 'statement keyword after closed quote', i);
        return;
      }
      default:
        return;
    }
  }

  /** After AND / OR / XOR / && / ||: a condition. `cap` limits the confidence (lowest level reachable). */
  logic(i: number, parens: number, virtual: boolean, cap: Level = 1): void {
    const q = this.quoted;
    let j = i;
    while (this.at(j).t === T_NOT) j++;
    if (this.at(j).t === T_KEY && this.at(j).v === 'if' && this.at(j + 1).t === T_FUNC) j++;
    let opened = 0;
    while (this.at(j).t === T_LP) {
      j++;
      opened++;
    }
    const tok = this.at(j);
    const lastIsComment = this.lastIsComment();
    const where = q ? 'closed quote' : 'value';
    const report = (pl: Level, reason: string): void => this.hit(Math.max(pl, cap) as Level, reason, i - 1);
    if (tok.t === T_END) {
      if (q) report(3, 'dangling logical operator after closed quote');
      else if (opened > 0) report(3, 'dangling logical operator and parenthesis');
      return;
    }
    if (tok.t === T_STMT && tok.v === 'select') {
      report(opened > 0 || q ? 1 : 2, 'subquery in condition after ' + where);
      return;
    }
    if (tok.t === T_WAIT) {
      report(1, 'WAITFOR DELAY in condition');
      return;
    }
    if (tok.t === T_KEY && tok.v === 'exists') {
      report(1, 'EXISTS in condition after ' + where);
      return;
    }
    if (!this.isOperandStart(j)) {
      if (q && lastIsComment) report(1, 'logical operator after closed quote ended by comment');
      else if (q) report(3, 'logical operator after closed quote');
      return;
    }
    const a = j;
    const afterA = this.skipExpr(a);
    const op = this.at(afterA);
    const exprA = afterA - a > 1 && this.at(a).t !== T_FUNC && this.at(a).t !== T_LP;
    if (this.at(a).t === T_FUNC) {
      const d = this.funcDanger(a);
      if (d === 1) {
        report(1, 'time/error function in condition after ' + where);
        return;
      }
      if (d === 2 && (op.t === T_CMP || q || lastIsComment || (this.at(a).v === 'if' && !this.at(a + 1).ws))) {
        report(1, 'SQL function in condition after ' + where);
        return;
      }
    }
    if (this.at(a).t === T_LP && this.at(a + 1).t === T_STMT) {
      report(1, 'subquery in condition after ' + where);
      return;
    }
    if (exprA && this.at(a).t === T_STR) {
      for (let k = a + 1; k < afterA; k++) {
        if (this.at(k).t === T_OP && JSON_OPS.has(this.at(k).v)) {
          report(1, 'JSON operator condition after ' + where);
          return;
        }
      }
    }
    if (op.t === T_CMP) {
      const b = afterA + 1;
      let bStart = b;
      if (this.at(b).t === T_KEY && (this.at(b).v === 'all' || this.at(b).v === 'any' || this.at(b).v === 'some')) bStart++;
      const afterB = this.isOperandStart(bStart) ? this.skipExpr(bStart) : bStart;
      const tail = this.at(afterB);
      const tailOk = tail.t === T_END || tail.t === T_COMMENT || tail.t === T_RP || tail.t === T_SEMI || tail.t === T_LOGIC || tail.t === T_STR || tail.t === T_CMP || (q && tail.t === T_KEY);
      const litA = this.isLiteral(a) && !exprA;
      const litB = this.isLiteral(b) && afterB === b + 1;
      const same = afterA === a + 1 && afterB === b + 1 && this.at(a).t === this.at(b).t && this.at(a).v === this.at(b).v && this.at(a).t !== T_STR && this.at(a).v !== '';
      if ((litA && (litB || this.at(b).t === T_END || (this.at(b).t === T_LP && !this.at(b).ws) || this.at(b).t === T_CMP)) || same) {
        report(tailOk || q || virtual || parens + opened > 0 ? 1 : 2, 'tautology after ' + where);
        return;
      }
      if (!exprA && this.at(b).t === T_STR && this.at(b).open && afterB === b + 1) {
        // `and name = '` — the application's own closing quote completes the string
        report(1, 'comparison with an unterminated string after logical operator');
        return;
      }
      if (!exprA && (this.at(b).t === T_END || (this.at(b).t === T_LP && this.at(b + 1).t === T_END))) {
        report(2, 'dangling comparison after logical operator');
        return;
      }
      if (this.at(b).t === T_LP && this.at(b + 1).t === T_STMT) {
        report(1, 'subquery comparison after ' + where);
        return;
      }
      if (this.at(b).t === T_FUNC && this.funcDanger(b) > 0) {
        report(this.funcDanger(b) === 1 ? 1 : 2, 'SQL function in comparison after ' + where);
        return;
      }
      if (q) {
        report(tailOk || lastIsComment ? 1 : 2, 'boolean condition after closed quote');
        return;
      }
      if (litA || litB) report(lastIsComment ? 1 : exprA ? 3 : 2, 'comparison with literal after logical operator');
      else report(3, 'comparison after logical operator');
      return;
    }
    const single = afterA === a + 1;
    if (op.t === T_END || op.t === T_COMMENT || op.t === T_SEMI || op.t === T_RP) {
      if (this.isLiteral(a) && single) {
        if (q && this.at(i - 1).v === '||' && this.at(a).t === T_STR) report(2, 'string concatenation after closed quote');
        else if (q && this.at(a).t === T_STR && this.at(a).open && this.at(a).v === ' ' && op.t === T_END) report(2, 'constant condition after closed quote');
        else if (q) report(1, 'constant condition after closed quote');
        else if (this.at(a).t === T_KEY && this.at(i - 2).t === T_NUM) report(1, 'constant condition after number');
        else if (this.at(a).t === T_KEY && virtual) report(2, 'constant condition');
        else if (op.t === T_COMMENT || op.t === T_SEMI) report(virtual || parens > 0 ? 1 : 2, 'constant condition before comment');
        else if (op.t === T_RP && opened === 0) report(3, 'constant condition');
        return;
      }
      if (q) report(op.t === T_COMMENT || op.t === T_SEMI ? 1 : 2, 'condition after closed quote');
      else if (op.t === T_COMMENT && (virtual || parens > 0)) report(2, 'condition before comment');
      return;
    }
    if (q && lastIsComment) {
      report(1, 'condition after closed quote ended by comment');
      return;
    }
    if (q && op.t === T_STR && this.isLiteral(a)) {
      report(1, 'string balancing after closed quote');
      return;
    }
    if (op.t === T_LOGIC && q) {
      this.logic(afterA + 1, parens, virtual, 2);
      return;
    }
    if (q) report(op.t === T_OP || op.t === T_OTHER ? 2 : 3, 'logical operator after closed quote');
    else if (this.at(a).v === 'xor' || (single && (op.t === T_OP || op.t === T_OTHER) && this.at(afterA + 1).t === T_END)) report(3, 'logical operator fragment');
  }

  /** Rules that look anywhere in the parse. */
  anywhere(): void {
    const T = this.T;
    const n = T.length;
    let sqlKeywords = 0;
    let commentGlued = 0;
    for (let i = 0; i < n; i++) {
      const tok = T[i]!;
      const t = tok.t;
      if (tok.cm) commentGlued++;
      switch (t) {
        case T_UNION: {
          sqlKeywords++;
          const nx = this.at(i + 1);
          const sel = nx.t === T_STMT && nx.v === 'select' ? i + 1 : nx.t === T_LP && this.at(i + 2).v === 'select' ? i + 2 : -1;
          if (sel >= 0) {
            const list = this.selectList(sel + 1);
            const before = this.at(i - 1).t;
            const valueBefore = before === T_NUM || before === T_RP || before === T_STR || before === T_END || before === T_COMMENT || before === T_SEMI || before === T_VAR;
            if (list >= 2 || valueBefore) this.hit(1, 'UNION SELECT', i);
            else if (list === 1) this.hit(2, 'UNION SELECT', i);
            else this.hit(3, 'UNION SELECT words', i);
          } else if (nx.v === 'values') this.hit(2, 'UNION/EXCEPT VALUES', i);
          break;
        }
        case T_SEMI: {
          const st = this.statement(i + 1);
          if (st !== 0) this.hit(st === 3 ? 1 : st === 2 ? 2 : 3, 'stacked query', i);
          else if (this.at(i + 1).t === T_STMT && (this.at(i + 2).t === T_END || this.at(i + 2).t === T_COMMENT)) this.hit(3, 'stacked statement keyword', i);
          else if (this.at(i + 1).t === T_STMT && (this.at(i + 2).t === T_WORD || this.at(i + 2).t === T_KEY) && this.at(i + 3).t === T_END) this.hit(2, 'stacked statement fragment', i);
          break;
        }
        case T_LP: {
          const nx = this.at(i + 1);
          if (nx.t === T_STMT && nx.v === 'select') {
            const list = this.selectList(i + 2);
            if (list >= 2) this.hit(1, 'subquery', i);
            else if (list === 1) this.hit(2, 'subquery', i);
            else if (this.at(i + 2).t === T_END) this.hit(2, 'subquery fragment', i);
          }
          break;
        }
        case T_WAIT:
          this.hit(this.at(i + 1).t === T_STR ? 1 : 2, 'WAITFOR DELAY', i);
          break;
        case T_FILE:
          this.hit(this.at(i + 1).t === T_STR ? 1 : 2, 'INTO OUTFILE', i);
          break;
        case T_VAR:
          if (tok.v.startsWith('@@')) this.hit(SYS_VARS.has(tok.v) ? 1 : tok.v.length > 3 ? 2 : 4, 'system variable', i);
          break;
        case T_WORD:
        case T_FUNC: {
          const v = tok.v;
          if (v.length > 3 && (DANGER_WORDS.has(v) || dottedDanger(v))) {
            this.hit(1, 'system catalog or procedure', i);
          } else if (DB_NAMES.has(v)) {
            this.hit(DB_NAMES_PL1.has(v) ? 1 : 2, 'database name', i);
          } else if (v.charCodeAt(0) === 36 && NOSQL_OPERATORS.has(v)) {
            const p = this.at(i - 1);
            this.hit(n === 1 || p.t === T_OTHER ? 1 : 2, 'NoSQL operator', i);
          } else if (v === 'analyse' && this.at(i - 1).v === 'procedure') {
            this.hit(1, 'PROCEDURE ANALYSE', i);
          }
          if (t === T_FUNC) this.funcRule(i);
          break;
        }
        case T_STMT:
        case T_KEY:
        case T_LOGIC:
          if (t !== T_LOGIC || tok.v.length > 2) sqlKeywords++;
          if (t === T_KEY && tok.v === 'case' && this.at(i + 1).v === 'when') {
            for (let k = i + 2; k < i + 8 && k < n; k++) {
              if (T[k]!.v === 'then') {
                this.hit(i === 0 ? 1 : 2, 'CASE WHEN … THEN', i);
                break;
              }
            }
          }
          if (t === T_KEY && tok.v === 'where') {
            const a = i + 1;
            const afterA = this.isOperandStart(a) ? this.skipExpr(a) : a;
            if (afterA === a + 1 && this.isLiteral(a) && this.at(afterA).t === T_CMP && this.isLiteral(afterA + 1)) this.hit(1, 'tautology after WHERE', i);
          }
          if (t === T_KEY && tok.v === 'having') {
            const a = this.skipOperand(i + 1);
            if (this.isOperandStart(i + 1) && this.at(a).t === T_CMP) this.hit(this.at(i - 2).t === T_BY && this.at(i + 1).t === T_FUNC ? 1 : 2, 'HAVING condition', i);
          }
          if (t === T_KEY && tok.v === 'as' && this.at(i + 2).t === T_KEY && this.at(i + 2).v === 'from') {
            const p = this.at(i - 1);
            const alias = this.at(i + 1);
            const quotedP = (p.t === T_WORD && p.k === 96) || p.t === T_STR;
            const quotedA = (alias.t === T_WORD && alias.k === 96) || alias.t === T_STR;
            if ((quotedP || p.t === T_NUM || p.t === T_END) && (quotedA || quotedP || alias.t === T_WORD)) this.hit(quotedP || quotedA ? 1 : 2, 'column alias before FROM', i);
            else if (p.t === T_RP) this.hit(2, 'column alias before FROM', i);
          }
          break;
        case T_BY: {
          sqlKeywords++;
          const nx = this.at(i + 1);
          const nx2 = this.at(i + 2);
          if (nx.t === T_NUM && (nx2.t === T_COMMENT || nx2.t === T_END || nx2.t === T_SEMI) && this.at(i - 1).t !== T_END) {
            this.hit(nx2.t === T_END ? 2 : 1, 'ORDER BY column number', i);
          } else if (nx.t !== T_END) this.hit(3, 'ORDER/GROUP BY', i);
          else this.hit(4, 'ORDER/GROUP BY', i);
          break;
        }
        case T_NUM:
          if (tok.v.endsWith('.e')) {
            const nx = this.at(i + 1);
            if ((nx.t === T_FUNC && SQL_FUNCS.has(nx.v)) || nx.t === T_LP || nx.t === T_RP || nx.t === T_COMMA || (nx.t === T_OTHER && nx.v === '.' && this.at(i + 2).t === T_WORD)) {
              this.hit(1, 'MySQL 1.e evasion', i);
            }
          }
          if (tok.v === '4294967296' || tok.v === '4294967295' || tok.v === '2147483648' || tok.v === '2147483647') this.hit(3, 'integer overflow probe', i);
          if (tok.v === '0xh') {
            const p = this.at(i - 1).t;
            if (p === T_STMT || p === T_COMMA || p === T_CMP || p === T_UNION || p === T_LP) this.hit(p === T_LP || p === T_COMMA ? 2 : 1, 'hex literal in SQL', i);
            else this.hit(3, 'hex literal', i);
          }
          break;
        case T_OP:
          if (tok.v === '::') {
            const ty = this.at(i + 1);
            if ((ty.t === T_WORD || ty.t === T_KEY) && SQL_TYPES.has(ty.v)) {
              const p = this.at(i - 1).t;
              this.hit(p === T_RP || p === T_WORD || p === T_STR ? 1 : 2, 'PostgreSQL type cast', i);
            }
          } else if (tok.v === '->' || tok.v === '->>' || tok.v === '#>' || tok.v === '<@' || tok.v === '?|' || tok.v === '?&') {
            if (this.at(i - 1).t === T_STR || this.at(i + 1).t === T_STR) this.hit(2, 'JSON operator', i);
          }
          break;
        default:
          break;
      }
      if (this.best !== null && this.best.pl === 1) return;
    }
    if (commentGlued > 0) {
      let stmtGlued = false;
      for (const tok of T) if (tok.cm && (tok.t === T_STMT || tok.t === T_UNION)) stmtGlued = true;
      if (sqlKeywords >= 2 || stmtGlued) this.hit(1, 'comment-obfuscated SQL', 0);
      else if (sqlKeywords >= 1) this.hit(2, 'comment-obfuscated SQL', 0);
      else this.hit(3, 'inline comment inside words', 0);
    }
  }

  funcRule(i: number): void {
    const name = this.at(i).v;
    const d = this.funcDanger(i);
    const close = this.at(i + 1).m;
    if (TIME_FUNCS.has(name)) {
      const p = this.at(i - 1);
      if (d === 1 && this.sqlPosition(i)) this.hit(1, 'time-delay function', i);
      else if (close < 0 && this.at(i + 2).t === T_END && p.t === T_END) this.hit(1, 'time-delay function fragment', i);
      else this.hit(d === 1 ? 2 : 3, 'time-delay function name', i);
      return;
    }
    if (d === 1) {
      this.hit(close > 0 || this.sqlPosition(i) ? 1 : 2, 'dangerous SQL function', i);
      return;
    }
    if (name === 'char' || name === 'chr' || name === 'nchar') {
      // char(65)||char(66), char(65,66,67), chr(65).chr(66)
      if (close > 0) {
        const nums = this.at(i + 2).t === T_NUM;
        const multi = this.at(i + 3).t === T_COMMA;
        const nextT = this.at(close + 1);
        const joined = nextT.t === T_LOGIC || nextT.t === T_OP || (nextT.t === T_OTHER && nextT.v === '.') || nextT.t === T_FUNC || this.at(i - 1).t === T_LOGIC;
        if (nums && (multi || joined)) this.hit(1, 'CHAR() encoding', i);
        else if (nums) this.hit(2, 'CHAR() call', i);
      }
    }
    if (d === 2) {
      // a SQL function after a cast or hex: concat(0x…), version(), database(), user() inside SQL
      let hex = false;
      if (close > 0) for (let k = i + 2; k < close && k < i + 40; k++) if (this.at(k).v === '0xh') hex = true;
      const p = this.at(i - 1).t;
      if (hex) this.hit(1, 'SQL function with hex literal', i);
      else if (INFO_FUNCS.has(name) && close === i + 2 && (p === T_COMMA || p === T_LP || p === T_STMT || p === T_CMP || p === T_OP)) this.hit(1, 'SQL information function', i);
      else if (close < 0 && this.at(i + 2).t === T_END && (p === T_END || p === T_STMT || p === T_LP)) {
        // the whole value is `name(`: a probe for SQL functions
        this.hit(1, 'SQL function fragment', i);
      } else if (p === T_STMT && this.at(i - 1).v === 'select') this.hit(1, 'SELECT with SQL function', i);
      else if (i === 0 && close === this.T.length - 1 && close > i + 2 && this.literalArgs(i + 2, close)) {
        // the whole value is a call with literal arguments: `div(23,-2)`, `md5(1)`
        this.hit(SQL_SPECIFIC_FUNCS.has(name) ? 1 : 2, 'SQL function call', i);
      }
      else this.hit(this.sqlPosition(i) && p !== T_END ? 2 : this.at(i + 1).ws ? 3 : 2, 'SQL function call', i);
    }
  }
}

function dottedDanger(v: string): boolean {
  if (v.indexOf('.') < 0 || (v.indexOf('_') < 0 && !v.startsWith('master') && !v.startsWith('mysql') && !v.startsWith('sys'))) return false;
  if (v.startsWith('master..') || v.startsWith('master.dbo') || v.startsWith('master.sys') || v.startsWith('mysql.user')) return true;
  for (const part of v.split('.')) if (DANGER_WORDS.has(part) || part.startsWith('xp_')) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// Character-class anomalies (paranoia 4)

function anomaly(s: string, end: number): string | null {
  let specials = 0;
  let run = 0;
  let maxRun = 0;
  let prev = -1;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    const special =
      c === 39 || c === 34 || c === 96 || c === 59 || c === 35 || c === 45 || c === 42 || c === 61 || c === 40 || c === 41 || c === 64 ||
      c === 124 || c === 38 || c === 33 || c === 94 || c === 37 || c === 126 || c === 36 || c === 0x2018 || c === 0x2019 || c === 0xb4;
    if (special) {
      specials++;
      run = c === prev ? run + 1 : 1;
      if (run > maxRun) maxRun = run;
    }
    prev = c;
  }
  if (maxRun >= 4) return 'repeated SQL metacharacter';
  if (specials >= 6) return 'many SQL metacharacters';
  return null;
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** Letters and digits only: nothing to parse, unless it is one of a few SQL-only identifiers. */
function quickBenign(s: string, end: number): boolean {
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57))) return false;
  }
  return end > 24 || !ALNUM_SUSPECTS.has(s.slice(0, end).toLowerCase());
}

/**
 * Whether the value can only tokenise into plain words, numbers, single-character operators and
 * commas — which no rule of paranoia 1 or 2 judges (proof in the comments below; the tokeniser and the
 * judges are what this mirrors, so keep them in step). A fast scan instead of a parse, for prose
 * without punctuation and paths: `Coffee beans 1 kg`, `/api/v1/orders/ord_42/items`, `id,name,price`.
 *
 * Allowed: ASCII letters, digits, `_`, whitespace, `,`, and the operators `-` `/` `&` `+` `%` `^` `~`
 * (each one token of one character: not `--` (a comment), `&&` (a logical operator), `/` before `*`
 * (not allowed anyway)). A run of word characters is a word when it starts with a letter or `_` (the
 * tokeniser's word takes the whole run) and must then be no keyword (`KEYWORDS`) and no name the judges
 * look up (`DANGER_WORDS`, `DB_NAMES`, `ALNUM_SUSPECTS`); a run that starts with a digit must be digits
 * only (a number: `0x41`, `1e5`, `1_0` are left to the parse). No quote, `;`, `(`, `)`, `=`, `<`, `>`,
 * `!`, `|`, `.`, `@`, `#`, `$`, `:`, `*`, `?`, `\`, `{`, `}`, backtick, non-ASCII.
 *
 * Such a token stream (words, numbers, operators, commas; fold() only drops unary operators) has: no
 * statement, UNION, logic, comparison, parenthesis, string, comment, variable or function token, so
 * `anywhere` finds nothing (its word rules need the looked-up names; its number rules are the
 * paranoia-3 overflow probe and hex / `1.e` forms that need `x` or `.`; its operator rules need `::`,
 * `->`, `#>`, `<@`, `?|`, `?&`), `statement` is 0, the number context only reaches `afterValue` on an
 * operator, comma, word or number (an operator there hits only in the quote contexts, which need a
 * quote) and `comparison` needs a comparison token, and `fragment` needs a multi-character operator,
 * a comparison, a parenthesis or a keyword. The quote contexts need a quote; the floating-point literal
 * needs `.`; the typographic-quote reading is paranoia 3 and up. `sqlFragment`'s shapes each need a
 * keyword (`and`, `from`, `having`, `null`, `by`, `xor`, …), a quote or one of the excluded characters.
 */
export function sqliPlain(s: string, end: number): boolean {
  PLAIN_STOP ??= new Set([...KEYWORDS.keys(), ...DANGER_WORDS, ...DB_NAMES, ...ALNUM_SUSPECTS]);
  const stop = PLAIN_STOP;
  let i = 0;
  while (i < end) {
    const c = s.charCodeAt(i);
    const lower = c | 32;
    if ((lower >= 97 && lower <= 122) || c === 95) {
      // a word: the whole run of word characters
      const start = i;
      let upper = c >= 65 && c <= 90;
      i++;
      for (; i < end; i++) {
        const d = s.charCodeAt(i);
        const dl = d | 32;
        if (dl >= 97 && dl <= 122) {
          if (d < 97) upper = true;
        } else if (!((d >= 48 && d <= 57) || d === 95)) break;
      }
      if (i < end) {
        // a run continued by a character of another word class (`.`, `$`, non-ASCII): not plain
        const d = s.charCodeAt(i);
        if (d === 46 || d === 36 || d >= 128) return false;
      }
      if (i - start > 40) continue; // the tokeniser keeps no text for longer words: no name matches
      const w = upper ? s.slice(start, i).toLowerCase() : s.slice(start, i);
      if (stop.has(w)) return false;
      continue;
    }
    if (c >= 48 && c <= 57) {
      // a number: digits only
      i++;
      while (i < end) {
        const d = s.charCodeAt(i);
        if (d >= 48 && d <= 57) i++;
        else if ((d | 32) >= 97 && (d | 32) <= 122) return false;
        else if (d === 95 || d === 46 || d === 36 || d >= 128) return false;
        else break;
      }
      continue;
    }
    const n1 = i + 1 < end ? s.charCodeAt(i + 1) : 0;
    switch (c) {
      case 32:
      case 10:
      case 9:
      case 44: // ,
      case 47: // / (never before `*`: `*` is not allowed)
      case 43: // +
      case 37: // %
      case 94: // ^
      case 126: // ~
        break;
      case 45: // - (not `--`, `->`: `>` is not allowed)
        if (n1 === 45) return false;
        break;
      case 38: // & (not `&&`)
        if (n1 === 38) return false;
        break;
      default:
        return false;
    }
    i++;
  }
  return true;
}

/** Typographic quotes some collations fold into `'`. */
const ALT_QUOTES = /[\u2018\u2019\u00b4\u02bc]/;

/** Quote contexts: `'`, `"` and MySQL's backtick-quoted identifiers. */
const QUOTES = [39, 34, 96];

interface Found {
  hit: Hit;
  context: string;
  fp: string;
}

function better(a: Found | null, b: Found | null): Found | null {
  if (a === null) return b;
  if (b === null) return a;
  return b.hit.pl < a.hit.pl ? b : a;
}

function judgeBare(s: string, end: number): Found | null {
  const raw: Tok[] = [];
  const flags = tokenize(s, 0, end, raw);
  const T = fold(raw);
  if (T.length === 0) return null;
  const j = new Judge(T, false, 'bare');
  const found = (): Found | null => (j.best === null ? null : { hit: j.best, context: j.best.context, fp: j.fingerprint(j.best.at) });
  j.anywhere();
  if (flags & F_EXEC) j.hit(sqlWordCount(T) > 0 ? 1 : 2, 'MySQL executable comment', 0);
  if (flags & F_HINT) j.hit(sqlWordCount(T) > 0 ? 1 : 3, 'optimizer hint comment', 0);
  if (j.best !== null && j.best.pl === 1) return found();

  // a statement at the start of the value, or inside prose
  let s0 = 0;
  while (s0 < 3 && (T[s0]!.t === T_OP || T[s0]!.t === T_OTHER) && s0 + 1 < T.length) s0++;
  const st = j.statement(s0);
  const last = T[T.length - 1]!.t;
  const terminated = last === T_COMMENT || last === T_SEMI;
  if (st === 3) j.hit(1, 'SQL statement', 0);
  else if (st === 2) j.hit(terminated ? 1 : 2, 'SQL statement', 0);
  else if (st === 1) j.hit(3, 'SQL statement words', 0);
  else if (T[0]!.t === T_STMT && T.length === 1) j.hit(4, 'SQL keyword', 0);
  for (let i = s0 + 1; i < T.length && i < 256; i++) {
    if (T[i]!.t === T_STMT && j.statement(i) >= 2) j.hit(2, 'SQL statement in text', i);
  }
  if (j.best !== null && j.best.pl === 1) return found();

  // number context: what follows the leading value (or the value the application supplies)
  j.phase = 'number';
  const first = T[0]!.t;
  if (first === T_LOGIC || first === T_RP || first === T_UNION || first === T_SEMI || first === T_BY || first === T_WAIT || first === T_FILE || first === T_NOT) {
    j.afterValue(0, true);
  } else if (first === T_NUM || first === T_WORD || first === T_STR || first === T_VAR || first === T_FUNC) {
    const a = j.skipExpr(0);
    j.afterValue(a, false);
    j.comparison(0, a);
  }
  // conditions anywhere: `… x OR 1=1`, `… ) AND sleep(5)`
  for (let i = 1; i < T.length && i < 1024; i++) {
    const t = T[i]!.t;
    if (t === T_LOGIC) j.logic(i + 1, T[i - 1]!.t === T_RP ? 1 : 0, false);
    else if (t === T_COMMA && j.isOperandStart(i + 1)) j.comparison(i + 1, j.skipExpr(i + 1));
  }
  fragment(j);
  return found();
}

/** Values made only of a SQL fragment: lone operators, `IS NULL`, `in (0,1)`, `) like (`. */
function fragment(j: Judge): void {
  const T = j.T;
  const n = T.length;
  if (n === 0 || n > 12) return;
  const a = T[0]!;
  if (n === 1) {
    if (a.t === T_CMP || a.t === T_LOGIC || (a.t === T_OP && a.v.length > 1)) j.hit(3, 'SQL operator', 0);
    return;
  }
  if (n === 3 && (a.t === T_WORD || a.t === T_FUNC) && SQL_SPECIFIC_FUNCS.has(a.v) && T[2]!.t === T_LP && (T[1]!.t === T_CMP || T[1]!.t === T_OP || T[1]!.t === T_OTHER)) {
    j.hit(1, 'SQL function fragment', 0);
  }
  if (a.t === T_CMP && (a.v === 'is' || a.v === 'is not' || a.v === 'like' || a.v === 'not like') && T[1]!.v === 'null') j.hit(2, 'NULL test fragment', 0);
  if (a.t === T_CMP && (a.v === 'in' || a.v === 'not in') && T[1]!.t === T_LP) j.hit(2, 'IN list fragment', 0);
  if ((a.t === T_WORD || a.t === T_NUM) && T[1]!.t === T_CMP && T[1]!.v.length > 2 && T[2]?.t === T_STR && T[2].open && n === 3) j.hit(2, 'comparison with an unterminated string', 0);
  if (a.t === T_RP && T[1]!.t === T_CMP && T[2]?.t === T_LP) j.hit(T[1]!.v.length > 3 ? 1 : 2, 'comparison between parentheses', 0);
  if (a.t === T_FUNC && a.v === 'if' && j.isLiteral(2) && T[3]?.t === T_CMP) j.hit(1, 'IF condition fragment', 0);
  if (a.t === T_RP && T[1]!.t === T_KEY && T[1]!.v === 'when' && T[3]?.v === 'then') j.hit(2, 'CASE WHEN fragment', 0);
  if (a.t === T_STMT && (a.v === 'exec' || a.v === 'execute') && T[1]!.t === T_LP && n === 2) j.hit(2, 'EXEC fragment', 0);
  if (a.t === T_KEY && a.v === 'from' && (T[1]!.t === T_WORD || T[1]!.t === T_LP)) {
    for (let i = 2; i < n; i++) if (T[i]!.t === T_KEY && (T[i]!.v === 'limit' || T[i]!.v === 'where')) j.hit(2, 'FROM clause fragment', 0);
  }
}

function countChar(s: string, c: number, end: number): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (s.charCodeAt(i) === c) n++;
  return n;
}

function sqlWordCount(T: Tok[]): number {
  let n = 0;
  for (const tok of T) if (tok.t === T_STMT || tok.t === T_UNION || tok.t === T_KEY || tok.t === T_LOGIC || tok.t === T_FUNC) n++;
  return n;
}

/**
 * The value inside a quoted string: the text up to the first unpaired quote is the string the
 * attacker closes. With `backslash`, `\'` counts as an escaped quote (MySQL) rather than a closing one.
 */
function judgeQuoted(s: string, end: number, quote: number, backslash = false): Found | null {
  const q = String.fromCharCode(quote);
  const close = backslash ? closeQuoteBackslash(s, end, quote) : closeQuote(s, 0, end, q);
  if (close < 0) return null;
  const raw: Tok[] = [{ t: T_STR, v: '', ws: false, open: false, k: quote, cm: false, m: -1 }];
  tokenize(s, close + 1, end, raw);
  const T = fold(raw);
  const context = quote === 39 ? 'single-quote' : quote === 34 ? 'double-quote' : 'backtick';
  const j = new Judge(T, true, context);
  // markdown code spans come in pairs of backticks: then the backtick context is weak evidence
  j.backtick = quote === 96 && countChar(s, 96, end) % 2 === 0;
  j.afterValue(1, false);
  if (j.backtick && j.best !== null && j.best.pl === 1 && !/UNION|stacked|tautology|subquery|function|WAITFOR/.test(j.best.reason)) {
    j.best = { ...j.best, pl: 2 };
  }
  if (j.best === null || j.best.pl > 1) j.anywhere();
  if (j.best === null) return null;
  return { hit: j.best, context, fp: j.fingerprint(j.best.at === 1 ? 0 : j.best.at) };
}

/**
 * Fragments that only make sense as the continuation of a SQL statement the application builds
 * around the value — the shapes CRS 942210 / 942120 / 942361 / 942362 / 942380 look for, judged
 * where they stand (at the start of the value, or right after `=` / `)`), not as lone words:
 * - a boolean connector, an operand and a comparison: `&& (l=!0)`, `|| c == '`, `AND uid!=(`;
 * - a second statement after `;`: `; insert into`, `;drop`;
 * - an opened subquery after `=` or `,`: `name=(select`, `@.= ( SELECT`;
 * - a comparison tail: `LIKE NULL`, `IS NOT NULL`, `in (0,1)` (numbers only);
 * - a quote closed, then UNION / ALTER / REGEXP: `'alter a`, `" UNION A`, `` ` REGEXP ``;
 * - a quote closed, OR / XOR, an operand and a dangling operator: `' or abc!`, `'  or 3,4,2@!`,
 *   `xor 5-` (`'Or else!'` with its closing quote is not one);
 * - a quoted string continued as a list with a number: ` 'abc', 0x1a`, `product = 'item', (5)` (not
 *   `'red', 'blue'`);
 * - a select-list tail: `) AS cc FROM`, `6 As" from` (not `(…) as well from`);
 * - clauses: `HAVING 1=`, `HAVING COUNT(`, `FROM \`t\``, `FROM t_x WHERE a=`, `FROM t GROUP BY`,
 *   `VALUES ('a',`, `) when 234 then`, `ORDER BY` with nothing after it, `>SET @var`;
 * - a value that is a SQL function or `IN` and an opened call: `length||(`, `month=(`, `IN (`
 *   (a value that ends in `(` after a word is no sentence).
 * Not: a path segment and a dangling connector (`/3 or`): the CRS corpus has it both ways.
 * Prose needs one of these exact shapes to be flagged: "and so on", "or less", "in (2024)",
 * "from home where we met", "values (see table)" are not.
 */
const FRAG_CONNECTOR = /^\s*(?:(?:&&|\|\|)\s*\(?\s*[@a-z_$][\w.$]{0,63}\s*(?:={1,3}|!={1,2}|<>|<=|>=|[<>])\s*(?:$|[!(@'"`\d-]|null\b|true\b|false\b|[a-z_])|(?:and|or|xor)\s+\(?\s*[@a-z_$][\w.$]{0,63}\s*(?:={1,3}|!={1,2}|<>|<=|>=|[<>])\s*(?:$|[!(@'"`\d-]|null\b|true\b|false\b))/i;
const FRAG_STACKED = /^\s*;\s*(?:select|insert|update|delete|drop|alter|create|truncate|exec|execute|declare|shutdown|grant|revoke|rename)(?:\s*$|\s+[a-z_*@`"\[(]|\s*[(*@`])/i;
const FRAG_SUBQUERY = /[=,]\s*\(\s*select\b/i;
const FRAG_NULL = /^\s*(?:is|like)\s+(?:not\s+)?null\s*(?:$|--|#|\)|;|(?:and|or)\s)/i;
const FRAG_IN = /^\s*(?:not\s+)?in\s*\(\s*-?\d+(?:\s*,\s*-?\d+)+\s*(?:\)|$)/i;
const FRAG_QUOTE_KEYWORD = /^\s*['"`]\s*(?:union|alter|regexp|rlike)\b(?!\s*['"`])/i;
const FRAG_AS_FROM = /^\s*(?:[)'"`;!]|\d+)\s*as\b\s*(?:[`'"]?[a-z_]\w{0,63}[`'"]?|[`'"])\s*from\b|\)\s*as\s+(?:`[^`]{1,64}`|'[^']{1,64}'|"[^"]{1,64}"|(?!(?:well|soon|far|much|long|early|late|usual|good|such|often|follows|before|is|was)\b)[a-z_]\w{0,63})\s+from\b/i;
const FRAG_HAVING = /\bhaving\s+(?:\d+\s*(?:[=<>]|$)|(?:count|sum|avg|min|max)\s*\()/i;
const FRAG_FROM = /^\s*from\s+(?:`[^`]{1,64}`|[a-z_]\w{0,63}\s+(?:where\s+[\w`."]{1,64}\s*(?:=|<|>|like\b|in\b)|group\s+by\b|order\s+by\b|limit\s+\d))/i;
const FRAG_VALUES = /\bvalues\s*\(\s*(?:'[^']*'|"[^"]*"|-?\d+(?:\.\d+)?)\s*,/i;
const FRAG_KEYWORDS = /\b(?:from|select|having|values|when)\b/i;
const FRAG_WHEN = /\)\s*when\s+(?:-?\d+|'[^']*')\s+then\b/i;
const FRAG_OPEN_CALL = /^\s*([a-z_][a-z0-9_]{0,31})[^a-z0-9_(]{0,8}\(\s*$/i;
const FRAG_SET_VAR = /^\s*[>;)]\s*set\s+@@?[a-z_]\w{0,63}\s*(?:$|:?=)/i;
const FRAG_CLAUSE_ALONE = /^\s*(?:order|group)\s+by\s*$/i;
const FRAG_OR_TAIL = /^\s*(?:['"`]\s*(?:or|xor)|xor)\s+(?:\d[\d,.]*|'[^']{0,64}'|[a-z_]\w{0,63})\s*[!<>=@-]+\s*$/i;
const FRAG_LIST = /^\s*(?:[a-z_][\w.]{0,63}\s*=\s*)?(?:'[^']{0,64}'|"[^"]{0,64}")\s*,\s*(?:0x[0-9a-f]|\d|\(\s*\d)/i;

function sqlFragment(s: string, end: number): SqliResult | null {
  const v = end === s.length ? s : s.slice(0, end);
  let c = v.charCodeAt(0);
  for (let i = 1; (c === 32 || c === 10 || c === 9) && i < v.length; i++) c = v.charCodeAt(i);
  let reason: string | null = null;
  // First character: & | a o x (connector), ; (stacked), i l n (is / like / in / not in), quotes, ) and digits.
  if ((c === 38 || c === 124 || c === 97 || c === 65 || c === 111 || c === 79 || c === 120 || c === 88) && FRAG_CONNECTOR.test(v)) reason = 'boolean connector and comparison continuing a condition';
  else if (c === 59 && FRAG_STACKED.test(v)) reason = 'stacked statement after ";"';
  else if ((c === 105 || c === 73 || c === 108 || c === 76 || c === 110 || c === 78) && (FRAG_NULL.test(v) || FRAG_IN.test(v))) reason = 'comparison tail (NULL test or IN list)';
  else if ((c === 39 || c === 34 || c === 96) && FRAG_QUOTE_KEYWORD.test(v)) reason = 'UNION / ALTER after a closed quote';
  else if ((c === 39 || c === 34 || c === 96 || c === 120 || c === 88) && FRAG_OR_TAIL.test(v)) reason = 'OR / XOR and a dangling operator after a quote';
  if (reason === null && (c === 39 || c === 34 || v.includes('=')) && FRAG_LIST.test(v)) reason = 'quoted string continued as a list';
  else if ((c === 102 || c === 70) && FRAG_FROM.test(v)) reason = 'FROM clause continuing a statement';
  // The rules below that may match anywhere need a parenthesis (`) as x from`, `=(select`,
  // `values (`, `) when`, `count(`), or a comparison after HAVING; the start-anchored `6 as x from` has
  // its first character checked. Prose without parentheses pays two indexOf scans.
  const paren = v.indexOf('(') >= 0 || v.indexOf(')') >= 0;
  if (reason === null && (paren || c === 39 || c === 34 || c === 96 || c === 59 || c === 33 || (c >= 48 && c <= 57))) {
    // One scan for the keywords of those rules; most values have none of them.
    const k = FRAG_KEYWORDS.exec(v);
    if (k !== null) {
      const w = (k[0] as string).toLowerCase();
      if (w === 'from' && FRAG_AS_FROM.test(v)) reason = 'select-list tail "AS x FROM"';
      else if (w === 'select' && FRAG_SUBQUERY.test(v)) reason = 'subquery opened after "=" or ","';
      else if (w === 'having' && FRAG_HAVING.test(v)) reason = 'HAVING clause';
      else if (w === 'values' && FRAG_VALUES.test(v)) reason = 'VALUES list';
      else if (w === 'when' && FRAG_WHEN.test(v)) reason = 'CASE branch after ")"';
      else if (FRAG_KEYWORDS.test(v.slice(k.index + w.length))) {
        // A second keyword later in the value (`… from … (select`): the rules in full.
        if (FRAG_AS_FROM.test(v)) reason = 'select-list tail "AS x FROM"';
        else if (FRAG_SUBQUERY.test(v)) reason = 'subquery opened after "=" or ","';
        else if (FRAG_HAVING.test(v)) reason = 'HAVING clause';
        else if (FRAG_VALUES.test(v)) reason = 'VALUES list';
        else if (FRAG_WHEN.test(v)) reason = 'CASE branch after ")"';
      }
    }
  } else if (reason === null && (v.indexOf('=') >= 0 || v.indexOf('<') >= 0 || v.indexOf('>') >= 0) && FRAG_HAVING.test(v)) {
    reason = 'HAVING clause';
  }
  let last = v.length - 1;
  while (last > 0 && (v.charCodeAt(last) === 32 || v.charCodeAt(last) === 10 || v.charCodeAt(last) === 9)) last--;
  if (reason === null && v.charCodeAt(last) === 40) {
    const m = FRAG_OPEN_CALL.exec(v);
    const w = m === null ? '' : (m[1] as string).toLowerCase();
    if (m !== null && (SQL_FUNCS.has(w) || w === 'in' || w === 'password')) reason = `SQL call "${w}(" opened at the end`;
  }
  if (reason === null && (c === 62 || c === 59 || c === 41) && FRAG_SET_VAR.test(v)) reason = 'SET @variable';
  if (reason === null && (c === 111 || c === 79 || c === 103 || c === 71) && FRAG_CLAUSE_ALONE.test(v)) reason = 'ORDER / GROUP BY alone';
  if (reason === null) return null;
  return { fingerprint: '', context: 'bare', paranoia: 1, reason };
}

/**
 * Detects SQL injection in one already-decoded request value.
 * Pure and synchronous; inspects at most the first `maxLength` characters (default 8 KiB).
 */
export function detectSqli(value: string, paranoia: 1 | 2 | 3 | 4, maxLength: number = SQLI_MAX_LENGTH): SqliResult | null {
  const end = Math.min(value.length, maxLength);
  if (end === 0) return null;
  if (paranoia === 1 && quickBenign(value, end)) return null;
  if (paranoia <= 2 && sqliPlain(value, end)) return null;
  let found = judgeBare(value, end);
  if (found === null || found.hit.pl > 1) {
    for (const quote of QUOTES) {
      const idx = value.indexOf(String.fromCharCode(quote));
      if (idx < 0 || idx >= end) continue;
      found = better(found, judgeQuoted(value, end, quote));
      if (found !== null && found.hit.pl === 1) break;
    }
  }
  if ((found === null || found.hit.pl > 1) && value.indexOf("\\'") >= 0 && value.indexOf("\\'") < end) {
    found = better(found, judgeQuoted(value, end, 39, true));
  }
  if (found === null && value.indexOf('2.225073858507201') >= 0) {
    return { fingerprint: '1', context: 'bare', paranoia: 1, reason: 'floating-point denial-of-service literal' };
  }
  if (paranoia >= 3 && (found === null || found.hit.pl > 3)) {
    // typographic quotes some database collations fold into `'`
    const alt = ALT_QUOTES.exec(value);
    if (alt !== null && alt.index < end) {
      const folded = value.slice(0, end).replace(/[\u2018\u2019\u00b4\u02bc]/g, "'");
      const f = better(judgeBare(folded, end), judgeQuoted(folded, end, 39));
      if (f !== null) {
        f.hit = { ...f.hit, pl: Math.max(3, f.hit.pl) as Level, reason: f.hit.reason + ' (typographic quotes)' };
        found = better(found, f);
      }
    }
  }
  if (found === null || found.hit.pl > 1) {
    // No parse matched at paranoia 1: a statement fragment still may (sqliPlain passes none of them).
    const frag = sqlFragment(value, end);
    if (frag !== null) return frag;
  }
  if (found === null && paranoia === 4) {
    const why = anomaly(value, end);
    if (why !== null) return { fingerprint: '', context: 'bare', paranoia: 4, reason: why };
  }
  if (found === null || found.hit.pl > paranoia) return null;
  return { fingerprint: found.fp, context: found.context, paranoia: found.hit.pl, reason: found.hit.reason };
}
