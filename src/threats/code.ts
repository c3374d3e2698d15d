/**
 * Server-side template and generic code injection (detector `code`):
 * - `code.template`: template expressions that compute (`{{7*7}}`, `${7*7}`, `#{7*7}`, `<%= 7*7 %>`,
 *   `*{…}`, `@(…)`), template statements (`{% if … %}`, `<#assign`, `#set($`), and the Jinja / Twig
 *   sandbox escapes (`{{''.__class__.__mro__}}`, `{{config}}`, `lipsum.__globals__`);
 *   a plain placeholder (`{{first_name}}`, `<%= title %>`) is not an expression;
 * - `code.node`: Node.js (`require('child_process')`, `process.mainModule`, `process.binding(`,
 *   `this.constructor.constructor`, node-serialize `_$$ND_FUNC$$_`);
 * - `code.python`: `__import__(`, `os.system(`, `subprocess.`, `__builtins__`, `__subclasses__()`;
 * - `code.ruby` / `code.perl`: `Kernel.exec`, `IO.popen`, `Process.spawn(`, Perl `@{[ … ]}`;
 * - `code.prototype-pollution`: `__proto__` and `constructor.prototype` in names and values;
 * - `code.dos-loop`: `while(true)` and its spellings, sent as code to evaluate;
 * - `code.orm-lookup` (paranoia 2): Django-style field lookups in parameter names
 *   (`username__startswith`, `a__b__c__gte`).
 */
import { C_ANGLE, C_AT, C_BRACE, C_BRACKET, C_DOLLAR, C_DOT, C_PAREN, C_PERCENT, C_UNDERSCORE, CRITICAL, hit, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

const ARITH = /\d+\s*[*\/+%-]\s*\d+|\d+\s*\*\s*['"]|['"]\s*\*\s*\d+/;
const DUNDER = /__(?:class|mro|subclasses|globals|builtins|import|init|base|bases|dict|getattribute|reduce|code|func_globals|loader|spec)__/;
const JINJA_OBJECTS = /^\s*(?:config|self|request|settings|lipsum|cycler|joiner|namespace|url_for|get_flashed_messages|range|dict|g|session|application|_self|app|env|this|constructor|global|process|runtime|system|java|class|object)\b[\s.|([]/;

export function detectCode(value: string, paranoia: Paranoia, info: ValueInfo): Hit | null {
  if ((info.chars & (C_BRACE | C_ANGLE | C_AT | C_BRACKET | C_UNDERSCORE | C_DOT | C_PAREN | C_DOLLAR | C_PERCENT)) === 0) return null;
  const t = template(value, paranoia);
  if (t !== null) return t;
  if (value.includes('__proto__') || value.includes('prototype')) {
    const p = /__proto__|constructor\s*(?:\.|\[\s*['"]?)\s*prototype/.exec(value);
    if (p !== null) return hit('code.prototype-pollution', CRITICAL, 'prototype pollution path', p.index);
  }
  if (value.includes('process') || value.includes('require') || value.includes('constructor') || value.includes('child_') || value.includes('func') || value.includes('console')) {
    const n = /\brequire\s*\(\s*['"`]?\s*(?:child_process|fs|net|vm|os|http|dgram|cluster|worker_threads)\b|\bchild_process\b|\bprocess\s*(?:\.\s*(?:mainmodule|binding|dlopen|kill|exit|env\b|kill|setuid|chdir|cwd\s*\(|memoryusage|hrtime|nexttick)|\[\s*['"`]?[a-z]|\[\s*req\.)|\bconstructor\s*\.\s*constructor\b|\bconstructor\s*\(\s*['"`]|_\$\$nd_func\$\$_|__js_function|\bconsole\s*\[\s*['"`]|\.spawn\s*\(\s*['"`]|\bglobal\s*\.\s*process\b|\bmodule\s*\.\s*constructor\b|\brequire\s*\.\s*main\b/.exec(value);
    if (n !== null) {
      const env = n[0].endsWith('env');
      // `process.env.PORT` in a sentence about configuration is prose; as a whole value it is code.
      if (!env || paranoia >= 2 || !/\s/.test(value) || value.length < 40) return hit('code.node', CRITICAL, `Node.js ${n[0].slice(0, 32)}`, n.index);
      return hit('code.node', WARNING, 'process.env in text', n.index);
    }
    const f = /\bfunction\s*\(\s*\)\s*\{|\bconsole\s*\.\s*(?:log|info|warn|error|dir)\s*\(/.exec(value);
    if (f !== null) {
      if (!/\s/.test(value.slice(0, f.index)) && f.index < 4 && value.length < 64) return hit('code.node', CRITICAL, 'JavaScript code', f.index);
      if (paranoia >= 2) return hit('code.node', WARNING, 'JavaScript code', f.index);
    }
  }
  if (value.includes('__') || value.includes('os.') || value.includes('subprocess') || value.includes('pickle') || value.includes('compile')) {
    const py = /\b__import__\s*\(|\bos\s*\.\s*(?:system|popen|exec[lv]p?e?|spawn[lv]p?e?|fork|remove|unlink|rmdir|getenv|environ|listdir|walk|chmod|chown|kill)\b|\bsubprocess\s*\.\s*(?:popen|call|run|check_output|check_call|getoutput|getstatusoutput)\b|\bpickle\s*\.\s*loads?\b|\bcpickle\b|\beval\s*\(\s*compile\s*\(|\bexec\s*\(\s*compile\s*\(|\bbuiltins\s*\.\s*(?:eval|exec|__import__|open)|__builtins__|\bimportlib\s*\.\s*import_module|\bpty\s*\.\s*spawn\b|\bsocket\s*\.\s*socket\s*\(/.exec(value);
    if (py !== null) return hit('code.python', CRITICAL, `Python ${py[0].slice(0, 32)}`, py.index);
    const d = DUNDER.exec(value);
    if (d !== null && /\.\s*__|\[\s*['"]__|__\s*\(|\|attr\s*\(/.test(value)) return hit('code.python', CRITICAL, `Python attribute ${d[0]}`, d.index);
  }
  const rb = !/kernel|popen|open3|spawn|%x|syscall|_eval|send\s*\(/.test(value) ? null : /\bkernel\s*\.\s*(?:exec|system|spawn|open|eval|`)|\bio\s*\.\s*popen\b|\bopen3\s*\.|\bprocess\s*\.\s*spawn\s*\(|%x\s*[{(\[]|\bsyscall\s*\(|\binstance_eval\b|\bclass_eval\b|\bmodule_eval\b|\bsend\s*\(\s*:(?:system|exec|eval|spawn)\b|\bpublic_send\s*\(/.exec(value);
  if (rb !== null) return hit('code.ruby', CRITICAL, `Ruby ${rb[0].slice(0, 24)}`, rb.index);
  if (value.includes('@{') || value.includes('@ {')) {
    const pl = /@\s*\{\s*\[/.exec(value);
    if (pl !== null) return hit('code.perl', CRITICAL, 'Perl @{[ … ]} interpolation', pl.index);
  }
  if (value.includes('while')) {
    const w = /\bwhile\s*\(\s*(?:!*\s*(?:false|true|[+-]?\d+|[+-]?infinity|new\s+date|string|undefined|null|nan|''|""|``|\{\}|\[\])|\(\s*true\s*\)\s*)\s*\)\)?\s*(?:;|\{?\s*\}?|$)/.exec(value);
    if (w !== null) {
      if (w.index === 0 || paranoia >= 2) return hit('code.dos-loop', CRITICAL, 'endless loop', w.index);
      return hit('code.dos-loop', WARNING, 'endless loop in text', w.index);
    }
  }
  if (info.key && paranoia >= 2 && value.includes('__')) {
    const o = /^[a-z][a-z0-9_]*?__(?:[a-z0-9]+__){0,6}(?:startswith|istartswith|endswith|iendswith|regex|iregex|contains|icontains|gt|gte|lt|lte|has_key|has_keys|has_any_keys|search)$|^[a-z][a-z0-9]*(?:__[a-z0-9_]+){3,}$/.exec(value);
    if (o !== null) return hit('code.orm-lookup', CRITICAL, `ORM field lookup ${value.slice(0, 40)}`, 0);
  }
  return null;
}

function template(v: string, paranoia: Paranoia): Hit | null {
  if (v.includes('{{')) {
    const re = /\{\{([^}]{0,200})\}\}/g;
    for (let m = re.exec(v); m !== null; m = re.exec(v)) {
      const inner = m[1] as string;
      if (ARITH.test(inner) || DUNDER.test(inner) || JINJA_OBJECTS.test(inner) || /\(.*\)|\|\s*(?:attr|safe|e|format|join|map|select|reverse|list|string|int|lower|upper|replace)\b|\[\s*['"]/.test(inner)) {
        return hit('code.template', CRITICAL, `template expression {{${inner.trim().slice(0, 24)}}}`, m.index);
      }
    }
    if (paranoia >= 3) return hit('code.template', WARNING, 'template placeholder', v.indexOf('{{'));
  }
  if (v.includes('{%')) {
    const s = /\{%-?\s*(?:if|for|set|import|include|extends|macro|call|filter|raw|from|with|block|print|debug|do|autoescape)\b[^%]{0,200}%\}/.exec(v);
    if (s !== null) return hit('code.template', CRITICAL, 'template statement {% … %}', s.index);
  }
  const expr = /([$#*@~])\s*\{([^{}]{1,200})\}|<%[=\-#]?([^%]{1,200})%>|@\(([^()]{1,200})\)|\[\[\s*\$\{/g;
  if (/[$#*@~]\s*\{|<%|@\(|\[\[/.test(v)) {
    for (let m = expr.exec(v); m !== null; m = expr.exec(v)) {
      const inner = m[2] ?? m[3] ?? m[4] ?? '';
      if (m[0].startsWith('[[')) return hit('code.template', CRITICAL, 'Thymeleaf inline expression', m.index);
      if (ARITH.test(inner) || DUNDER.test(inner)) return hit('code.template', CRITICAL, `template expression ${m[0].slice(0, 24)}`, m.index);
      if (/\b(?:t\s*\(|new\s|getclass|class\.|forname|runtime|exec\s*\(|system\s*\(|eval\s*\(|process\.|require\s*\(|popen|spawn|invoke|getmethod|freemarker|\.execute|\?new)/.test(inner)) {
        return hit('code.template', CRITICAL, `template expression ${m[0].slice(0, 24)}`, m.index);
      }
      if (m[3] !== undefined && /\b(?:if|for|while|each|end|include|require)\b/.test(inner) && /<%.*%>.*<%/.test(v)) {
        return hit('code.template', CRITICAL, 'ERB / JSP statements', m.index);
      }
    }
  }
  if (v.includes('<#') || v.includes('#set') || v.includes('?new') || v.includes('$class')) {
    const f = /<#(?:assign|include|import|list|if|macro|function|attempt|setting)\b|\?new\s*\(|freemarker\.template\.utility|#set\s*\(\s*\$|\$class\.inspect|\$class\.type|#foreach\s*\(\s*\$/.exec(v);
    if (f !== null) return hit('code.template', CRITICAL, `template directive ${f[0].slice(0, 24)}`, f.index);
  }
  return null;
}
