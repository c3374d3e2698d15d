/**
 * PHP code injection (detector `php`):
 * - `php.open-tag`: `<?php`, `<?=`, `<? echo`, `[php]`, `{php}`;
 * - `php.wrapper`: stream wrappers that turn an include into code or data access (`php://filter`,
 *   `php://input`, `phar://`, `zip://`, `expect://`, `data://`, `ssh2.exec://`);
 * - `php.function`: a call of a function only PHP has (`base64_decode(`, `call_user_func(`,
 *   `shell_exec(`), or of a generic dangerous one (`eval`, `exec`, `system`, `assert`) with a PHP-looking
 *   argument (`$x`, a string, `chr(…)`) or a comment between the name and `(`;
 * - `php.variable-function`: `$f(…)`, `$__[o](4)`, `${'a'}(…)`, `$obj->$m()`;
 * - `php.callable-string`: `"system"('id')`, `(system)(ls)`, `[system][0](ls)`;
 * - `php.superglobal`: `$_GET[`, `$_SERVER`, `$GLOBALS`;
 * - `php.serialized`: a serialised PHP object `O:8:"stdClass":1:{…}`;
 * - `php.config`: php.ini directives set in a value (`allow_url_include=1`, `auto_prepend_file=`);
 * - `php.script-upload`: a file name with a PHP extension (`a.php`, `x.phtml....`, `photo. php5`).
 */
import { C_ANGLE, C_BRACE, C_BRACKET, C_COLON, C_DOLLAR, C_EQUALS, C_PAREN, CRITICAL, hit, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

const OPEN_TAG = /<\?(?:php\b|=|\s*\n?\s*php\b|[\s]*(?:echo|print|system|exec|eval|include|require|passthru|shell_exec|phpinfo|\$|@)|xml\s*:)|\[\/?php\]|\{\/?php\}|<\?\s*$/;
const WRAPPER = /\b(?:php|phar|zip|zlib|glob|expect|data|compress\.zlib|compress\.bzip2|ogg|rar|ssh2\.(?:exec|shell|tunnel|scp|sftp)):\/\//;
/** Names that exist only in PHP (a call of one is PHP code). */
const PHP_ONLY = /^(?:base64_decode|base64_encode|gzinflate|gzuncompress|gzdecode|gzencode|gzdeflate|str_rot13|call_user_func(?:_array)?|create_function|preg_replace_callback|preg_replace|assert_options|phpinfo|shell_exec|passthru|proc_open|proc_nice|pcntl_exec|pcntl_fork|posix_[a-z_]+|get_defined_(?:functions|vars|constants)|file_get_contents|file_put_contents|move_uploaded_file|unserialize|ini_set|ini_get_all|ini_restore|set_time_limit|ob_start|ob_end_flush|highlight_file|show_source|php_uname|phpversion|putenv|fsockopen|pfsockopen|stream_socket_client|stream_get_contents|curl_exec|curl_init|array_map|array_filter|array_walk|array_diff|usort|uasort|uksort|register_shutdown_function|register_tick_function|mb_ereg_replace|ereg_replace|eregi|extract|parse_str|htmlspecialchars_decode|gethostbyname|getmypid|getmyuid|get_current_user|getcwd|readfile|fpassthru|symlink|chmod|chown|mkdir|rmdir|unlink|tempnam|tmpfile|fopen|fwrite|fputs|fread|fgets|file|scandir|glob|opendir|readdir|is_writable|is_readable|dl|mail|escapeshellcmd|escapeshellarg|serialize|var_dump|var_export|print_r|debug_zval_dump|error_log|iconv|simplexml_load_string|libxml_disable_entity_loader|sodium_[a-z0-9_]+|zend_[a-z0-9_]+|pg_[a-z_]+|odbc_[a-z_]+|mysqli?_[a-z_]+|openssl_[a-z_]+|hash_hmac|str_replace|substr_count|strrev|implode|explode|ucfirst|lcfirst|strtolower|strtoupper|urldecode|rawurldecode|hex2bin|bin2hex|strval|intval|settype|gettype|func_get_args|is_callable|function_exists|method_exists|class_exists|reflectionfunction|invokeargs)$/;
/** The PHP-only names that are dangerous by themselves (a call is critical at paranoia 1). */
const PHP_DANGEROUS = /^(?:base64_decode|gzinflate|gzuncompress|gzdecode|str_rot13|call_user_func(?:_array)?|create_function|preg_replace|assert_options|phpinfo|shell_exec|passthru|proc_open|pcntl_exec|posix_[a-z_]+|get_defined_(?:functions|vars|constants)|file_get_contents|file_put_contents|move_uploaded_file|unserialize|ini_set|ini_get_all|highlight_file|show_source|php_uname|putenv|fsockopen|pfsockopen|stream_socket_client|curl_exec|register_shutdown_function|register_tick_function|mb_ereg_replace|ereg_replace|escapeshellcmd|sodium_[a-z0-9_]+|zend_[a-z0-9_]+|pg_[a-z_]+|odbc_[a-z_]+|gethostbyname|get_current_user|hex2bin|fpassthru|array_diff|func_get_args|reflectionfunction|getmypid|getmyuid)$/;
/** Generic names (also other languages' or English): a call counts only with PHP-looking arguments. */
const GENERIC = /^(?:eval|exec|system|assert|popen|include|include_once|require|require_once|chr|unpack|pack|range|serialize|printf|print|echo|die|exit|header|setcookie)$/;
/** A call: a name, optional comments or spaces, `(`, and the start of the argument. */
const CALL = /([a-z_][a-z0-9_]*)((?:\s|#[^\n]*\n|\/\/[^\n]*\n)*)\(\s*([^)]{0,80})/g;

export function detectPhp(value: string, paranoia: Paranoia, info: ValueInfo, isFileName = false): Hit | null {
  if (isFileName) {
    const up = /\.(?:php\d?|phtml|pht|phps|phar|pgif|shtml|inc)[.\s]*$|\.\s+(?:php\d?|phtml)$/.exec(value);
    if (up !== null) return hit('php.script-upload', CRITICAL, `PHP file name ${value.slice(-40)}`, up.index);
    const sess = /(?:^|[\\/])sess_[a-z0-9,-]{20,}$/.exec(value);
    if (sess !== null) return hit('php.session-upload', CRITICAL, 'PHP session file name', sess.index);
  }
  if ((info.chars & (C_ANGLE | C_PAREN | C_DOLLAR | C_COLON | C_EQUALS | C_BRACKET | C_BRACE)) === 0) return null;
  const tag = value.includes('<?') || value.includes('php') ? OPEN_TAG.exec(value) : null;
  if (tag !== null) {
    // `<?` alone is the end of a value only in PHP injections ("test<?"); `<?xpacket`/`<?xml version` are not PHP.
    return hit('php.open-tag', CRITICAL, 'PHP open tag', tag.index);
  }
  if (value.includes('://')) {
    const w = WRAPPER.exec(value);
    if (w !== null && !(w[0].startsWith('data') && /^data:\/\/text\/plain;base64,[a-z0-9+\/=]*$/i.test(value.slice(w.index)) && paranoia < 2)) {
      return hit('php.wrapper', CRITICAL, `PHP stream wrapper ${w[0]}`, w.index);
    }
  }
  if (value.includes('$')) {
    const g = /\$_(?:get|post|cookie|request|server|files|env|session)\b|\$globals\b|\$http_raw_post_data/.exec(value);
    if (g !== null) return hit('php.superglobal', CRITICAL, `PHP superglobal ${g[0]}`, g.index);
    const vv = /\$\s*\{\s*['"@$]/.exec(value);
    if (vv !== null) return hit('php.variable-function', CRITICAL, 'PHP variable variable ${…}', vv.index);
    const vf = /\$[a-z_][a-z0-9_]*(?:\s*(?:\[[^\]\n]{0,24}\]|\{[^}\n]{0,24}\}))*\s*(?:\n\s*)?\(\s*[^)\s]{0,40}\s*\)|\$\{[^}\n]{1,24}\}\s*\(|->\s*\$[a-z_][a-z0-9_]*\s*\(|\$[a-z_][a-z0-9_]*\s*(?:\/\/[^\n]*\n|#[^\n]*\n)\s*\(/.exec(value);
    if (vf !== null && !/^\$[a-z_][a-z0-9_]*\s*\(\s*\)$/.test(vf[0]) && !/\$\d/.test(vf[0])) {
      return hit('php.variable-function', CRITICAL, `PHP variable function call ${vf[0].slice(0, 24)}`, vf.index);
    }
  }
  if (value.includes('(')) {
    CALL.lastIndex = 0;
    let n = 0;
    for (let c = CALL.exec(value); c !== null && n < 64; c = CALL.exec(value), n++) {
      const name = c[1] as string;
      if (PHP_ONLY.test(name)) {
        if (PHP_DANGEROUS.test(name)) return hit('php.function', CRITICAL, `PHP function ${name}()`, c.index);
        if (paranoia >= 2) return hit('php.function', CRITICAL, `PHP function ${name}()`, c.index);
        continue;
      }
      if (!GENERIC.test(name)) continue;
      const gap = c[2] as string;
      const arg = (c[3] as string).trim();
      const commented = /[#\/\n]/.test(gap);
      const phpArg = /^(?:\$|['"`]|chr\s*\(|\(|@|(?:whoami|id|ls|uname|cat|pwd|dir|ipconfig|ifconfig|phpinfo)\b)/.test(arg);
      const dangerous = /^(?:eval|exec|system|assert|popen|passthru)$/.test(name);
      if (dangerous && (phpArg || commented)) return hit('php.function', CRITICAL, `${name}() call`, c.index);
      if (name === 'chr' && /^\d+\s*\)\s*\./.test(value.slice(c.index + c[0].length - arg.length))) {
        return hit('php.function', CRITICAL, 'chr() concatenation', c.index);
      }
      if (commented && !/^(?:print|echo|printf|header|exit|die)$/.test(name)) return hit('php.function', CRITICAL, `${name}() call with a comment before "("`, c.index);
      if (dangerous && paranoia >= 2) return hit('php.function', WARNING, `${name}() call`, c.index);
      if (name === 'chr' && /^\d+$/.test(arg)) return hit('php.function', WARNING, 'chr() call', c.index);
    }
    const cs = /[)\]'"}]\s*\(/.test(value) ? callableString(value) : null;
    if (cs !== null) return cs;
  }
  if (value.includes(':{') || value.includes(':"')) {
    const s = /\b[oc]:\d+:"[a-z0-9_\\]+":\d+:\{/.exec(value);
    if (s !== null) return hit('php.serialized', CRITICAL, 'serialised PHP object', s.index);
    if (paranoia >= 2) {
      const a = /\ba:\d+:\{(?:[sibd]:\d+[:;])/.exec(value);
      if (a !== null) return hit('php.serialized', WARNING, 'serialised PHP array', a.index);
    }
  }
  if (value.includes('=')) {
    const d = /(?:^|[\s;&])(?:allow_url_include|allow_url_fopen|auto_prepend_file|auto_append_file|disable_functions|disable_classes|open_basedir|safe_mode|register_globals|magic_quotes_gpc|enable_dl|extension_dir|extension|zend_extension|include_path|opcache\.[a-z_]+|session\.[a-z_]+|precision|serialize_precision|error_log|log_errors|display_errors|file_uploads|upload_tmp_dir|sendmail_path|mail\.log|user_ini\.filename|phar\.readonly|assert\.active|short_open_tag|expose_php|memory_limit|max_execution_time|variables_order|request_order|auto_detect_line_endings|default_charset|output_handler|unserialize_callback_func|highlight\.[a-z]+|xdebug\.[a-z_]+|pcre\.[a-z_]+|cgi\.[a-z_]+|fastcgi\.[a-z_]+)\s*=\s*\S/.exec(value);
    if (d !== null && (d.index === 0 || paranoia >= 2)) return hit('php.config', CRITICAL, `php.ini directive ${d[0].trim().split('=')[0]}`, d.index);
  }
  return null;
}

/** `"system"('id')`, `(system)(ls)`, `[system][0](ls)`, `(sy.(st).em)(…)`, `define('x','sys'.'tem');(x)(…)`. */
function callableString(value: string): Hit | null {
  // Compact view: quotes, dots, spaces, concatenation and comments gone.
  const c = value.replace(/\/\*.*?\*\/|['"\s.+]|\(string\)/g, '');
  const m = /(?:^|[;({\[=])[(\[{]*(?:system|exec|passthru|shell_exec|popen|proc_open|eval|assert|phpinfo|pcntl_exec|sy\(st\)em)[)\]}]*(?:\[\d+\]|\{\d+\})*\)*\(/.exec(c);
  if (m !== null && /[)\]'"]\s*(?:\[\s*\d+\s*\]\s*)*(?:\{[^}]*\}\s*)?\(|^\s*["']|[(\[]\s*['"]?\s*(?:sy|ex|pa|sh|po|pr|ev|as|ph)/.test(value)) {
    return hit('php.callable-string', CRITICAL, 'function name called as a string', 0);
  }
  if (/\bdefine\s*\(\s*['"][a-z_]+['"]\s*,/.test(value) && /\)\s*;\s*\(\s*[a-z_]+\s*\)/.test(value)) {
    return hit('php.callable-string', CRITICAL, 'defined constant called as a function', 0);
  }
  return null;
}
