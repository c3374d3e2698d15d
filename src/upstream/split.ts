/**
 * Weighted traffic split between upstreams (canary releases): `upstream: { split: [...], sticky?, override? }`.
 *
 * - Without a sticky key: smooth weighted round-robin (nginx's algorithm, as the round-robin balancer).
 *   Deterministic: every window of `sum(weights)` requests holds each member exactly `weight` times,
 *   so a 1 % canary gets 1 % even at low traffic and a test can count it; no random source, no
 *   allocation. (Each gateway instance runs its own sequence; together they still sum to the weights.)
 * - Sticky (`consumer | ip | header:<name> | cookie:<name>`): the key's 32-bit hash is a point in
 *   [0, 2^32), and the members own consecutive ranges of that space sized by their weights, in the
 *   order they are listed. Raising a canary from 10 to 20 moves only the keys between the old and the
 *   new boundary (10 % of them), all towards the canary; nobody else changes side. A request without
 *   the key falls back to the weighted choice.
 * - Override (`override: { header, values }`): a tester header whose value names a member
 *   (`x-canary: always` → orders-v2) forces it, also a member of weight 0 (dark launch). Values are
 *   fixed at build and must map to members of this split, so the header can never reach an upstream
 *   outside it; an unknown value is ignored (weighted / sticky choice as usual).
 *
 * The choice is recorded in the access log's notes (`split orders-v2 (sticky)`), strings built once.
 */
import { Type, type Static } from '@sinclair/typebox';
import { didYouMean, type ConfigIssue } from '../config/errors.ts';
import type { RequestContext } from '../pipeline/context.ts';
import { hash32 } from './balance.ts';
import { hashKey, type HashOn, type Upstream } from './upstream.ts';

const TOKEN = "[A-Za-z0-9!#$%&'*+.^_`|~-]+";

/** `routes[].upstream` in its split form. */
export const SplitSchema = Type.Object(
  {
    split: Type.Array(
      Type.Object(
        {
          upstream: Type.String({ minLength: 1, description: 'Name of an upstream.' }),
          weight: Type.Integer({
            minimum: 0,
            maximum: 1_000_000,
            description: 'Relative share of the requests; 0: reachable through override only (dark launch).',
          }),
        },
        { additionalProperties: false },
      ),
      { minItems: 1, description: 'Weighted traffic split between upstreams (canary); at least one weight above 0.' },
    ),
    sticky: Type.Optional(
      Type.String({
        pattern: `^(ip|consumer|header:${TOKEN}|cookie:${TOKEN})$`,
        description: 'Keep a client on one side: ip | consumer | header:<name> | cookie:<name>. Requests without the key are split by weight.',
      }),
    ),
    override: Type.Optional(
      Type.Object(
        {
          header: Type.String({ pattern: `^${TOKEN}$`, description: 'Request header whose value forces a member, e.g. x-canary.' }),
          values: Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
            description: 'header value → upstream of this split, e.g. { always: orders-v2, never: orders-v1 }; other values are ignored.',
          }),
        },
        { additionalProperties: false, description: 'Tester override: forces a member of this split (weight 0 included), never another upstream.' },
      ),
    ),
  },
  { additionalProperties: false },
);

export type RawSplit = Static<typeof SplitSchema>;

export interface SplitMember {
  readonly upstream: Upstream;
  readonly weight: number;
  /** Smooth weighted round-robin state. */
  current: number;
  /** End (exclusive) of this member's range of the 32-bit hash space, for sticky keys. */
  readonly until: number;
  readonly noteWeighted: string;
  readonly noteSticky: string;
  readonly noteOverride: string;
}

export type SplitReason = 'weighted' | 'sticky' | 'override';

export class TrafficSplit {
  readonly members: readonly SplitMember[];
  readonly sticky: HashOn | undefined;
  /** Lower-case header name of the tester override. */
  readonly overrideHeader: string | undefined;
  readonly overrides: ReadonlyMap<string, SplitMember>;
  /** Members with weight > 0 (the weighted choice never sees a dark member). */
  private readonly weighted: readonly SplitMember[];
  private readonly total: number;
  /** Why the last `choose` chose (tests; single-threaded, read right after the call). */
  lastReason: SplitReason = 'weighted';

  constructor(
    members: readonly { upstream: Upstream; weight: number }[],
    sticky: HashOn | undefined,
    override: { header: string; values: ReadonlyMap<string, Upstream> } | undefined,
  ) {
    this.total = members.reduce((s, m) => s + m.weight, 0);
    if (this.total <= 0) throw new Error('a split needs a member with a weight above 0');
    let acc = 0;
    this.members = members.map((m) => {
      acc += m.weight;
      const name = m.upstream.name;
      return {
        upstream: m.upstream,
        weight: m.weight,
        current: 0,
        // The last member with weight ends at 2^32 exactly (no rounding gap at the top).
        until: acc === this.total ? 2 ** 32 : Math.floor((acc / this.total) * 2 ** 32),
        noteWeighted: `split ${name} (weighted)`,
        noteSticky: `split ${name} (sticky)`,
        noteOverride: `split ${name} (override)`,
      };
    });
    this.weighted = this.members.filter((m) => m.weight > 0);
    this.sticky = sticky;
    this.overrideHeader = override?.header.toLowerCase();
    const overrides = new Map<string, SplitMember>();
    if (override) {
      for (const [value, upstream] of override.values) {
        const member = this.members.find((m) => m.upstream === upstream);
        if (member) overrides.set(value, member);
      }
    }
    this.overrides = overrides;
  }

  /** The upstream for this request; records the choice in the request's notes. */
  choose(ctx: RequestContext): Upstream {
    const m = this.pick(ctx);
    ctx.note(this.lastReason === 'weighted' ? m.noteWeighted : this.lastReason === 'sticky' ? m.noteSticky : m.noteOverride);
    return m.upstream;
  }

  pick(ctx: RequestContext): SplitMember {
    const headers = ctx.request.headers;
    if (this.overrideHeader !== undefined) {
      const v = headers[this.overrideHeader];
      const value = Array.isArray(v) ? v[0] : v;
      if (value !== undefined) {
        const forced = this.overrides.get(value);
        if (forced !== undefined) {
          this.lastReason = 'override';
          return forced;
        }
      }
    }
    if (this.sticky !== undefined) {
      const key = hashKey(this.sticky, ctx);
      if (key !== undefined && key !== '') {
        this.lastReason = 'sticky';
        return this.byBucket(splitHash(key));
      }
    }
    this.lastReason = 'weighted';
    return this.next();
  }

  /** The member whose range of the hash space holds `h` (members of weight 0 own an empty range). */
  byBucket(h: number): SplitMember {
    const members = this.members;
    for (let i = 0; i < members.length; i++) {
      const m = members[i] as SplitMember;
      if (h < m.until) return m;
    }
    return this.weighted[this.weighted.length - 1] as SplitMember;
  }

  /** Smooth weighted round-robin over the members with a weight. */
  private next(): SplitMember {
    const w = this.weighted;
    if (w.length === 1) return w[0] as SplitMember;
    let best = w[0] as SplitMember;
    for (let i = 0; i < w.length; i++) {
      const m = w[i] as SplitMember;
      m.current += m.weight;
      if (m.current > best.current) best = m;
    }
    best.current -= this.total;
    return best;
  }
}

/**
 * FNV-1a with its own offset basis (not the balancer's: a split and a consistent-hash upstream keyed on
 * the same value must not correlate), then murmur3's fmix32 for avalanche. Unsigned 32-bit.
 */
export function splitHash(s: string): number {
  return hash32(s, 0x9747b28c);
}

/** `ip | consumer | header:<name> | cookie:<name>` (the schema checked the form). */
export function parseSticky(text: string): HashOn {
  if (text === 'ip' || text === 'consumer') return { kind: text };
  const colon = text.indexOf(':');
  const name = text.slice(colon + 1);
  return text.slice(0, colon) === 'header' ? { kind: 'header', name: name.toLowerCase() } : { kind: 'cookie', name };
}

/**
 * Builds a split from its config; every problem goes to `issues` at its exact path (`at` is the
 * path of the route's `upstream`). `resolve` reports unknown upstream names itself.
 */
export function buildSplit(
  raw: RawSplit,
  at: string,
  resolve: (name: string, path: string) => Upstream | undefined,
  issues: ConfigIssue[],
): TrafficSplit | undefined {
  const before = issues.length;
  const members: { upstream: Upstream; weight: number }[] = [];
  const seen = new Map<string, number>();
  let total = 0;
  raw.split.forEach((entry, j) => {
    const p = `${at}.split[${j}]`;
    if (entry.weight < 0 || !Number.isInteger(entry.weight)) {
      issues.push({ path: `${p}.weight`, message: 'must be a whole number of 0 or more' });
    }
    total += Math.max(0, entry.weight);
    const prior = seen.get(entry.upstream);
    if (prior !== undefined) {
      issues.push({ path: `${p}.upstream`, message: `"${entry.upstream}" is already split[${prior}]; give it one entry with the sum of the weights` });
      return;
    }
    seen.set(entry.upstream, j);
    const u = resolve(entry.upstream, `${p}.upstream`);
    if (u) members.push({ upstream: u, weight: entry.weight });
  });
  if (raw.split.length === 0) issues.push({ path: `${at}.split`, message: 'must list at least one upstream' });
  else if (total <= 0) {
    issues.push({ path: `${at}.split`, message: 'every weight is 0: at least one upstream needs a weight above 0 (weight 0 is reachable through override only)' });
  }
  let override: { header: string; values: Map<string, Upstream> } | undefined;
  if (raw.override) {
    const values = new Map<string, Upstream>();
    const names = raw.split.map((e) => e.upstream);
    for (const [value, name] of Object.entries(raw.override.values)) {
      const p = `${at}.override.values[${JSON.stringify(value)}]`;
      if (!seen.has(name)) {
        issues.push({ path: p, message: `"${name}" is not an upstream of this split${didYouMean(name, names)}; an override can only choose among split members` });
        continue;
      }
      const u = members.find((m) => m.upstream.name === name)?.upstream;
      if (u) values.set(value, u);
    }
    if (Object.keys(raw.override.values).length === 0) issues.push({ path: `${at}.override.values`, message: 'must map at least one value to an upstream' });
    override = { header: raw.override.header, values };
  }
  if (issues.length > before) return undefined;
  return new TrafficSplit(members, raw.sticky !== undefined ? parseSticky(raw.sticky) : undefined, override);
}
