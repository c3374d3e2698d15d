/**
 * Scanners and attack tools (detector `scanner`): their User-Agent (`sqlmap/1.7`, `Nikto`,
 * `nuclei`, `zgrab`), and headers some of them add (`Acunetix-Product`, `X-Scanner`). Run on the
 * User-Agent only, plus the header names in `SCANNER_HEADERS`.
 */
import { CRITICAL, hit, type Hit } from './types.ts';

const TOOLS = /\b(?:sqlmap|nikto|nmap|nessus|openvas|acunetix|netsparker|invicti|w3af|dirbuster|gobuster|dirb|wfuzz|ffuf|feroxbuster|nuclei|zgrab|masscan|havij|arachni|skipfish|wpscan|joomscan|droopescan|cmsmap|zmeu|morfeus|jaascois|fimap|commix|xsstrike|xsser|whatweb|webinspect|appscan|burpsuite|burpcollaborator|zaproxy|owasp[ _-]?zap|paros|webshag|nsauditor|brutus|hydra|medusa|bsqlbf|sqlninja|pangolin|mysqloit|absinthe|wapiti|vega\/|netlab360|zmap|leakix|interactsh|jorgee|dotdotpwn|blackwidow|teh forest lobster|sf\/\d|grendel-scan|webscarab|websecurify|n-stealth|nstealth|qualys[ _-]?(?:guard|was)|sitelock|tenable|detectify|intruder\.io|probely|hakrawler|katana\/|dalfox|tplmap|jexboss|ysoserial|metasploit|msfconsole|crimescanner|pmafind|muieblackcat|floodgate|mozilla\/4\.0 \(compatible; msie 6\.0; windows nt 5\.1; sv1\) xpl|\.nasl|httpx - open-source|projectdiscovery|l9explore|l9tcpid|expanse|censysinspect|internet-measurement|netsystemsresearch)\b/;

/** Headers that scanners add. */
export const SCANNER_HEADERS = new Set(['acunetix-product', 'acunetix-scanning-agreement', 'acunetix-user-agreement', 'x-scanner', 'x-wipp', 'x-request-memo', 'x-scan-memo', 'x-wapiti', 'x-ff-scanner']);

export function detectScanner(userAgent: string): Hit | null {
  const m = TOOLS.exec(userAgent);
  if (m !== null) return hit('scanner.user-agent', CRITICAL, `attack tool ${m[0].slice(0, 32)}`, m.index);
  return null;
}
