/**
 * Java attacks (detector `java`):
 * - `java.log4shell`: Log4j lookups (`${jndi:ldap://…}`), also nested and obfuscated
 *   (`${${lower:j}ndi:`, `${${::-j}${::-n}di:`, `${env:x:-j}`);
 * - `java.ognl`: OGNL and Struts2 expressions (`%{(#_memberAccess…`, `#context['xwork…`, `@ognl.`);
 * - `java.spel`: SpEL / EL (`T(java.lang.Runtime)`, `#{T(`, `''.getClass().forName(`);
 * - `java.class-loader`: Spring4Shell-style class loader paths (`class.module.classLoader`);
 * - `java.dangerous-class`: `java.lang.Runtime`, `ProcessBuilder`, `ScriptEngineManager`,
 *   commons-collections / xalan gadget classes, `getRuntime().exec(`;
 * - `java.class-name`: other JDK class names used by gadget chains (`java.io.File`,
 *   `java.lang.reflect`): critical when they are the whole value or a name, a warning inside text
 *   (a stack trace in a bug report) at paranoia 1;
 * - `java.serialized`: serialised Java objects (`rO0AB`, `aced0005`, and the shifted base64 forms);
 * - `java.script-upload`: JSP file names.
 */
import { C_AT, C_BRACE, C_BRACKET, C_DOLLAR, C_DOT, C_HASH, C_PAREN, C_PERCENT, C_SPACE, CRITICAL, hit, WARNING, type Hit, type Paranoia, type ValueInfo } from './types.ts';

/** Cheap gates in front of the long class and serialisation patterns. */
const CLASS_GATE = /java|opensymphony|builder|runtime|script|naming|rowset|transformer|closure|factory|ysoserial|lazymap|transformedmap|templatesimpl|invocationhandler|xmldecoder|badattribute|groovy|bsh\.|sun\.|org\.|fastjson|mchange|corba/;
/**
 * Java gadget keywords in base64 (the stable middle of their encoding at each of the three byte
 * alignments), compared in lower case like every normalised value.
 */
const BASE64_KEYWORDS = new RegExp(
  ['runtime', 'processbuilder', 'clonetransformer', 'forclosure', 'instantiatefactory', 'instantiatetransformer', 'invokertransformer', 'prototypeclonefactory', 'prototypeserializationfactory', 'whileclosure', 'getproperty', 'filewriter', 'xmldecoder']
    .flatMap((kw) =>
      [0, 1, 2].map((a) => {
        const enc = Buffer.from('\0'.repeat(a) + kw).toString('base64');
        return enc.slice([0, 2, 3][a], Math.floor((a + kw.length) / 3) * 4).toLowerCase();
      }),
    )
    .filter((s) => s.length >= 8)
    .map((s) => s.replace(/[+/]/g, '\\$&'))
    .join('|'),
);

const BARE_GATE = /transformer|closure|factory|ysoserial|lazymap|templatesimpl|invocationhandler|xmldecoder|processbuilder|runtime|scriptengine|ro0ab|kztaau|cs7qaf|aced0005|h4siaaaa/;
const SER_GATE = /ro0ab|kztaau|cs7qaf|aced0005|h4siaaaa|\u00ac/;

const LOOKUP_NAMES = /^(?:jndi|ctx|env|sys|java|lower|upper|main|date|spring|k8s|docker|log4j|bundle|web|marker|sd|map|event|base64|jvmrunargs|hostname|ldap|ldaps|rmi|dns|nis|iiop|corba|nds|:*-)$/;

export function detectJava(value: string, paranoia: Paranoia, info: ValueInfo, isFileName = false): Hit | null {
  if (isFileName) {
    const up = /\.(?:jsp|jspx|jspf|jsw|jsv|jhtml|war)[.\s]*$/.exec(value);
    if (up !== null) return hit('java.script-upload', CRITICAL, 'JSP file name', up.index);
  }
  if ((info.chars & (C_DOT | C_DOLLAR | C_HASH | C_PERCENT | C_AT | C_PAREN | C_BRACE | C_BRACKET)) === 0) {
    // Letters and digits only: gadget class names and serialisation markers are all that can hide here.
    if (value.length < 5 || !(BARE_GATE.test(value) || (value.length >= 8 && BASE64_KEYWORDS.test(value)))) return null;
  }
  if (value.includes('${') || value.includes('$ {')) {
    const l = log4shell(value);
    if (l !== null) return l;
  }
  if (value.includes('#') || value.includes('@') || value.includes('%{')) {
    const o = /%\{\s*\(?\s*#|#_memberaccess|#context\s*\[|@ognl\.|ognlcontext|#(?:dm|ct|cr|ou|req|res|application|session|parameters|attr|request|context)\s*=|\(#[a-z_]+\s*=|xwork2?\.|com\.opensymphony|@java\.lang\.[a-z]+@|#ognlutil|\.getexcludedpackagenames|#(?:a|b|c|d|e)\.getclass\(/.exec(value);
    if (o !== null) return hit('java.ognl', CRITICAL, 'OGNL / Struts2 expression', o.index);
  }
  if (value.includes('(')) {
    const s = /\bt\s*\(\s*java\.|[#$]\{\s*t\s*\(|\.getclass\s*\(\s*\)\s*\.\s*(?:forname|getclassloader|getmethod|getdeclaredmethod)|\bclass\.forname\s*\(|\.getruntime\s*\(\s*\)|\bruntime\s*\.\s*getruntime|new\s+java\.(?:lang|io|net|util)\.|\.exec\s*\(\s*['"][^'"]{0,80}['"]\s*\)\s*\.\s*(?:getinputstream|waitfor)|\bnew\s+processbuilder\s*\(|scriptenginemanager\s*\(\s*\)|\.getenginebyname\s*\(|javax\.script\./.exec(value);
    if (s !== null) return hit('java.spel', CRITICAL, 'Java expression / reflection', s.index);
  }
  if (value.includes('class')) {
    const c = /\bclass\s*(?:\.|\[\s*['"]?)\s*(?:module|classloader)\b|\bclassloader\s*(?:\.|\[)\s*['"]?(?:resources|urls|parent|defaultassertionstatus)|\.class\.module\.|\[class\]\[classloader\]/.exec(value);
    if (c !== null) return hit('java.class-loader', CRITICAL, 'class loader manipulation', c.index);
  }
  const d = !CLASS_GATE.test(value) ? null : /\bjava\.lang\.(?:runtime|processbuilder|process\b|processimpl|unixprocess|system\b|reflect|classloader|thread\b|invoke)|\bjava\.runtime\b|\bprocessbuilder\b|\bjavax\.script\b|\bscriptenginemanager\b|\bjavax\.naming\.initialcontext|\bjdbcrowsetimpl|\bcom\.sun\.rowset|\bcom\.sun\.org\.apache|\borg\.apache\.commons\.(?:collections|beanutils|fileupload|io\.output)|\borg\.apache\.xalan|\btemplatesimpl\b|\binvokertransformer\b|\bchainedtransformer\b|\bconstanttransformer\b|\binstantiatetransformer\b|\binstantiatefactory\b|\bclonetransformer\b|\bforclosure\b|\bwhileclosure\b|\bprototypeclonefactory\b|\bprototypeserializationfactory\b|\blazymap\b|\btransformedmap\b|\bannotationinvocationhandler\b|\bbadattributevalueexpexception\b|\bysoserial\b|\borg\.codehaus\.groovy\.runtime|\bgroovy\.lang\.|\bbsh\.interpreter|\bbsh\.xthis|\borg\.springframework\.(?:beans\.factory\.objectfactory|aop|context\.support\.classpathxmlapplicationcontext)|\bcom\.mchange\.v2\.c3p0|\borg\.hibernate\.(?:engine|property|tuple)|\bcom\.rometools|\bcom\.sun\.syndication|\bjava\.beans\.(?:xmldecoder|eventhandler)|\bxmldecoder\b|\borg\.omg\.corba|\bjava\.rmi\.|\bsun\.rmi\.|\bcom\.sun\.jndi|\bjavax\.management|\bjava\.net\.urlclassloader|\bcom\.alibaba\.fastjson|\bcom\.opensymphony\.xwork2|\bjava\b[^\n]{0,64}?\b(?:runtime|processbuilder)\b/.exec(value);
  if (d !== null) return hit('java.dangerous-class', CRITICAL, `Java class ${d[0].slice(0, 48)}`, d.index);
  if (value.includes('java')) {
    const k = /\bjavax?\.(?:lang|io|util|net|nio|beans|rmi|security|sql|naming|management|script|xml|text|awt|applet)\.[a-z0-9_$.]+/.exec(value);
    if (k !== null) {
      const bare = /^[a-z0-9_$.\s]*$/.test(value) || info.key;
      if (bare || paranoia >= 2) return hit('java.class-name', CRITICAL, `Java class ${k[0].slice(0, 48)}`, k.index);
      return hit('java.class-name', WARNING, `Java class ${k[0].slice(0, 48)} in text`, k.index);
    }
  }
  if ((info.chars & C_SPACE) === 0 && value.length >= 8) {
    const b = BASE64_KEYWORDS.exec(value);
    if (b !== null) return hit('java.base64-keyword', CRITICAL, 'base64-encoded Java gadget keyword', b.index);
  }
  const ser = !SER_GATE.test(value) ? null : /(?:^|[^a-z0-9+\/])(?:ro0ab|kztaau|cs7qaf|h4siaaaaaaaa[a-z0-9+\/]{0,8}(?:ro0|kzt))|\baced0005|¬í\u0005|\u00ac\u00ed/.exec(value);
  if (ser !== null) return hit('java.serialized', CRITICAL, 'serialised Java object', ser.index);
  return null;
}

/**
 * Log4j lookup: resolve the obfuscation lookups (`${lower:x}`, `${upper:x}`, `${::-x}`,
 * `${env:NAME:-x}`) from the inside out, a bounded number of times, then look for a lookup.
 */
function log4shell(value: string): Hit | null {
  const at = value.indexOf('${') === -1 ? value.indexOf('$ {') : value.indexOf('${');
  let s = value.slice(at, at + 2048).replace(/\$\s+\{/g, '${');
  for (let round = 0; round < 8; round++) {
    const next = s
      .replace(/\$\{(?:lower|upper):([^${}]*)\}/g, '$1')
      .replace(/\$\{[a-z0-9_]*:[^${}:]*:-([^${}]*)\}/g, '$1')
      .replace(/\$\{:*-([^${}]*)\}/g, '$1')
      .replace(/\$\{(?:date|main|sys|env|ctx|k8s|spring|web|docker|marker|bundle|base64):?[^${}]*\}/g, '');
    if (next === s) break;
    s = next;
  }
  const m = /\$\{\s*(?:jndi|ldap|ldaps|rmi|dns|nis|iiop|corba|nds|http)\s*:/.exec(s) ?? /\$\{+\s*([a-z0-9]{1,12}|:*-)\s*:/.exec(value);
  if (m !== null && (m[1] === undefined || LOOKUP_NAMES.test(m[1]))) {
    return hit('java.log4shell', CRITICAL, m[1] === undefined ? 'Log4j JNDI lookup' : `Log4j lookup \${${m[1]}`, at);
  }
  return null;
}
