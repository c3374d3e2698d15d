/**
 * Session fixation (detector `session`):
 * - `session.fixation`: a session identifier passed as a parameter (`jsessionid=`, `PHPSESSID=`,
 *   `connect.sid=`, …) by a request that does not come from this site (no Referer, or another
 *   host's): a link that plants a known session on the victim;
 * - `session.cookie-injection`: setting a cookie from injected script or markup
 *   (`document.cookie=…; domain=`, `<meta http-equiv=Set-Cookie>`).
 */
import { CRITICAL, hit, type Hit } from './types.ts';

const SESSION_NAMES = /^(?:jsessionid|phpsessid|phpsession|aspsessionid[a-z]*|asp\.net_sessionid|sessionid|session-id|session_id|_session_id|laravel_session|connect\.sid|_flask_session|(?:__host-|__secure-)?next-auth\.session-token|meteor_login_token|rack\.session|play_session|sails\.sid|cakephp|ci_session|koa[.:]sess|cfid|cftoken|cfsid|zend_session_id|shiny-token|weblogicsession|_rails_session|jservsession|jwsession|sid_session)$/;

/** `name` is a parameter or body key (lower case); `foreign` is true when the Referer is absent or names another host. */
export function detectSessionFixation(name: string, foreign: boolean): Hit | null {
  if (!foreign || !SESSION_NAMES.test(name)) return null;
  return hit('session.fixation', CRITICAL, `session identifier ${name} from an outside link`);
}

export function detectCookieInjection(value: string): Hit | null {
  if (!value.includes('cookie')) return null;
  const m = /\.cookie\b[^\n]{0,200}?;\s*(?:expires|domain|path)\s*=|document\s*\.\s*cookie\s*=|http-equiv\W+set-cookie\b/.exec(value);
  if (m === null) return null;
  return hit('session.cookie-injection', CRITICAL, 'cookie set by injected code', m.index);
}
