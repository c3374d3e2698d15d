/**
 * The benign corpus: realistic API requests with nothing malicious in them, generated from a fixed
 * seed (the same requests on every machine, nothing downloaded). It is what the false-positive rate
 * of threat detection is measured on (`npm run bench:threats`).
 *
 * What it holds, on purpose: natural language with apostrophes and quotes ("O'Brien's order", "don't"),
 * SQL words in plain sentences ("select a plan", "drop me a line", "union station"), code snippets
 * in comment fields (JavaScript, Python, CSS, JSON, shell-free), markdown, URLs, e-mail addresses,
 * prices and percentages, non-ASCII names, search queries, pagination and filter parameters, browser
 * User-Agents, cookies and referers. The word lists and templates are written here; nothing comes
 * from outside the repository.
 *
 * `node bench/benign-corpus.ts [count] > file.jsonl` writes it as JSON lines.
 */

export interface BenignRequest {
  method: string;
  target: string;
  headers: Record<string, string>;
  body?: string;
}

/** mulberry32: small, fast, good enough for test data; fixed seed → fixed corpus. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FIRST = ['Liam', 'Olivia', 'Noah', 'Emma', 'Aoife', 'Seán', 'José', 'Zoë', 'Björn', 'Łukasz', 'Mei', 'Hiroshi', 'Priya', 'Arjun', 'Fatima', 'Omar', 'Chloé', 'François', 'Søren', 'Anaïs', 'Jürgen', 'Nikolai', 'Ngozi', 'Kwame', 'Ana', 'João', 'Siobhán', 'Dmitri', 'Yuki', 'Ahmed', 'Grace', 'Mateo', 'Isabella', 'Lucas', 'Amara', 'Elif', 'Tomás', 'Ines', 'Ravi', 'Hannah'];
const LAST = ["O'Brien", "O'Connor", "D'Angelo", "O'Neill", "D'Souza", 'McDonald', 'van der Berg', 'de la Cruz', 'Smith-Jones', 'Müller', 'García', 'Nguyen', 'Kowalski', 'Tanaka', 'Okafor', 'Haddad', 'Johansson', 'Rossi', 'Dubois', 'Silva', 'Ivanova', 'Kim', 'Patel', 'Cohen', "L'Amour", 'St. John', 'Ó Súilleabháin', 'Zhang', 'Al-Farsi', 'Fitzgerald'];
const CITIES = ['Dublin', 'São Paulo', 'Zürich', 'New York', "Martha's Vineyard", 'Köln', 'Kraków', 'Montréal', 'Tōkyō', 'Cape Town', 'Reykjavík', 'Union City', 'Select Harbor', 'Drop Bay', 'Orlando', 'St. Louis', 'Washington, D.C.'];
const DOMAINS = ['example.com', 'mail.example.org', 'acme.io', 'shop.example.net', 'university.edu', 'gmail.com', 'outlook.com', 'proton.me'];
const PRODUCTS = ['Ergonomic chair', 'USB-C hub (7-in-1)', '4K monitor 27"', 'Noise-cancelling headphones', "Men's running shoes", "Children's book: 'The Very Hungry Caterpillar'", 'Coffee beans – 1 kg', 'Standing desk 120×60 cm', 'Wireless mouse & keyboard set', 'Select-a-size paper towels', 'Union Jack flag', 'Table lamp', 'Drop-leaf table', 'Cast-iron skillet 10"', 'Yoga mat (6 mm)'];

const SENTENCES = [
  "I'm really happy with the order, thanks!",
  "Don't forget to select the right size from the drop-down menu.",
  "It's the best coffee I've had in years; I'd order it again.",
  'Please update my address and delete the old one from my profile.',
  'Where can I find the table of contents for the user guide?',
  "We'll meet at Union Station at 5 o'clock, or at the café across the street.",
  'Drop me a line when the package arrives.',
  'The union of both sets gives the full list, doesn\'t it?',
  'Order by Friday and get free shipping (orders over $50 only).',
  "Can you insert a note saying it's a gift? It's for my mum's birthday.",
  'Select all that apply: fast delivery, good price, friendly support.',
  'The product arrived damaged — the box was crushed and one leg was bent.',
  "My name is spelled O'Brien, with an apostrophe, not OBrien.",
  'I tried to log in from my phone and it said "invalid password" twice.',
  'Grant access to the shared folder for the whole team, please.',
  'Join us for a webinar on Thursday: "Scaling your store in 2025".',
  'Is it 1 or 2 per customer? The page says one, the email says two.',
  'The kids loved it! 10/10 would recommend to anyone with a 5-year-old.',
  "We're out of stock on the blue one; the grey one ships tomorrow.",
  'Exec summary: revenue is up 12% and churn is down to 3.4%.',
  'Cat owners: this scratching post is sturdy and my cat uses it every day.',
  "Time flies when you're having fun — see you next year!",
  'Sleep tracking works well, but the strap could be softer.',
  'Find the receipt in your inbox, or download it from the orders page.',
  'Echo Park is a great neighbourhood for brunch on weekends.',
  "The 'Where to buy' link is broken on the French site.",
  'Please cancel order #4521 — I ordered the wrong colour by mistake.',
  'Rate 5/5. Delivery was quick & the packaging was plastic-free.',
  'We use it for our CI pipeline and it has been rock solid.',
  "Let's schedule a call: Tue 10:30–11:00 CET works for me.",
  'Price went from €19.99 to €24.99 overnight; is that a mistake?',
  'The recipe says: mix flour & sugar, then add 2 eggs and 250 ml of milk.',
  "To whom it may concern, I'd like a refund for the damaged item.",
  'Tested on Windows 11, macOS 14 and Ubuntu 22.04 — works on all three.',
  'Our office is closed on 25/12 and 01/01; support replies resume on 02/01.',
  'Use code SPRING-20 at checkout for 20% off.',
  "Hi! Quick question: what's the difference between the Pro and the Plus plans?",
  'The "drop" in performance happens after about 10,000 rows.',
  'Keep calm and carry on :)',
  'I like turtles 🐢 and pizza 🍕.',
  'Vielen Dank für die schnelle Lieferung!',
  "C'est parfait, merci beaucoup. L'équipe est très réactive.",
  '¿Dónde está mi pedido? Lo compré hace una semana.',
  'Obrigado pela ajuda, o problema foi resolvido.',
  'お問い合わせありがとうございます。',
  'Where should I send the signed contract — to legal@ or to sales@?',
  'Set the alarm for 6:45 and remind me to water the plants.',
  'He said "it works on my machine", which is not an answer.',
  'A + B = C only if both are positive; otherwise use max(A, B).',
  'Fix: the header overlapped the menu on small screens (< 400 px).',
];

const SNIPPETS = [
  'const total = items.reduce((sum, item) => sum + item.price * item.qty, 0);',
  'if (user && user.isAdmin) { showDashboard(); } else { redirect("/login"); }',
  'def average(values):\n    return sum(values) / len(values) if values else 0',
  'for (let i = 0; i < rows.length; i++) {\n  console.log(rows[i].name);\n}',
  '.card { display: flex; gap: 8px; padding: 1rem; border-radius: 4px; }',
  '{"name": "widget", "tags": ["a", "b"], "enabled": true}',
  'fetch("/api/orders?page=2").then(r => r.json()).then(render);',
  'SELECT name, price FROM products WHERE price < 20 ORDER BY price;',
  'import pandas as pd\ndf = pd.read_csv("sales.csv")\nprint(df.head())',
  'git checkout -b feature/login-form',
  'npm install --save-dev typescript',
  'public static void main(String[] args) { System.out.println("Hello"); }',
  'x = [n ** 2 for n in range(10) if n % 2 == 0]',
  '<div class="alert">Saved!</div>',
  'let greeting = `Hello, ${name}!`;',
  'export function add(a: number, b: number): number { return a + b; }',
  'UPDATE settings SET theme = \'dark\' WHERE user_id = 42;',
  'kubectl get pods -n staging',
  'while (queue.length > 0) { process(queue.shift()); }',
  'a { color: #336699; text-decoration: none; }',
  'docker compose up -d',
  'try { await save(doc); } catch (err) { logger.error(err); }',
  'match = re.search(r"(\\d{4})-(\\d{2})", text)',
  'brew install jq',
  'README: run the tests with make test',
];

const MARKDOWN = [
  '# Release notes\n\n- Fixed the login bug\n- **New:** dark mode\n- See [the docs](https://docs.example.com/guide) for details.',
  '## Steps to reproduce\n1. Open the app\n2. Click *Settings*\n3. Toggle `notifications`\n\nExpected: it saves. Actual: it doesn\'t.',
  '> I\'d rather have it in blue.\n\nAgreed — see issue #123.',
  'Thanks @maria for the review! :tada:',
  '| plan | price |\n|---|---|\n| Basic | $5 |\n| Pro | $15 |',
  'Use `npm run build` before deploying. More in the [FAQ](https://example.com/faq#deploy).',
  '~~old price~~ **new price: $9.99**',
  '- [x] write tests\n- [ ] update the changelog\n- [ ] tag the release',
];

const WORDS = 'the quick brown fox jumps over lazy dog order select update delete insert union join where from table drop create alter grant exec execute script alert prompt confirm window document cookie location href source image icon font style class function return null true false or and not like between having group by limit offset into values set index key primary foreign default case when then else end cast convert char concat substring version user admin root system shell command bash path file folder home etc passwd config setting profile account payment invoice shipping delivery tracking refund return exchange coupon discount gift card wishlist basket cart checkout login logout signup password reset email phone address city country zip code region language currency price total tax fee quantity size colour color weight height width length material brand model review rating comment reply like share follow message inbox notification alarm calendar event meeting agenda report chart graph export import upload download backup restore sync search filter sort page next previous first last more less show hide open close save cancel submit confirm continue back help support contact about team careers blog news press terms privacy cookie policy'.split(' ');

const UAS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.71 Mobile Safari/537.36',
  'Mozilla/5.0 (Linux; Android 12; SM-A528B Build/SP1A.210812.016; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/125.0.6422.165 Mobile Safari/537.36',
  'okhttp/4.12.0',
  'python-requests/2.32.3',
  'curl/8.7.1',
  'Go-http-client/2.0',
  'axios/1.7.2',
  'PostmanRuntime/7.39.0',
  'MyShopApp/3.14.2 (iOS 17.5; iPhone15,2)',
  'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
];

const REFERERS = ['https://www.google.com/', 'https://localhost/', 'https://localhost/products?page=2', 'https://duckduckgo.com/', 'https://t.co/abc123', 'https://news.ycombinator.com/item?id=4012345', 'https://www.bing.com/search?q=standing+desk'];

const SEARCHES = [
  "what's the best way to cook rice", 'c++ vs rust', '50% off shoes', 'rock & roll t-shirt', 'select comfort mattress', 'union jack', 'drop shipping', 'table saw', "o'neill wetsuit", 'how to delete my account', 'order status', 'where is my order', 'cat food', 'ls 500h', 'sleep mask', 'echo dot', 'time capsule', 'find my phone', 'head & shoulders', 'kill bill dvd', 'yes or no', 'more info', 'exec chair', 'python course', 'java coffee beans', 'php developer jobs', 'c# tutorial', '1/2 inch bolts', 'size 10.5', 'café au lait', 'naïve bayes', '"exact phrase"', 'price:<20', 'tag:summer -winter', 'red OR blue', 'sofa (3-seater)', 'lamp + bulb', 'usb-c @ 100w', '#1 bestseller', 'q&a', 'a/b testing', '10% off first order', 'https://example.com/item/42',
];

function pick<T>(r: () => number, list: readonly T[]): T {
  return list[Math.floor(r() * list.length)] as T;
}

function words(r: () => number, n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(pick(r, WORDS));
  return out.join(' ');
}

function text(r: () => number): string {
  const k = r();
  if (k < 0.55) return Array.from({ length: 1 + Math.floor(r() * 3) }, () => pick(r, SENTENCES)).join(' ');
  if (k < 0.7) return pick(r, MARKDOWN);
  if (k < 0.82) return `${pick(r, SENTENCES)}\n\n${pick(r, SNIPPETS)}`;
  if (k < 0.9) return `${words(r, 4 + Math.floor(r() * 12))}.`;
  return `${pick(r, SENTENCES)} More at https://${pick(r, DOMAINS)}/${words(r, 2).replace(/ /g, '-')}?ref=${Math.floor(r() * 1000)}`;
}

function person(r: () => number): { first: string; last: string; email: string } {
  const first = pick(r, FIRST);
  const last = pick(r, LAST);
  const local = `${first}.${last}`.normalize('NFD').replace(/[^\w.]/g, '').toLowerCase();
  return { first, last, email: `${local}${Math.floor(r() * 100)}@${pick(r, DOMAINS)}` };
}

function q(params: Record<string, string | number>): string {
  return Object.entries(params)
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v)).replace(/%20/g, '+')}`)
    .join('&');
}

function baseHeaders(r: () => number, json: boolean): Record<string, string> {
  const h: Record<string, string> = {
    'User-Agent': pick(r, UAS),
    Accept: json ? 'application/json' : 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
    'Accept-Language': pick(r, ['en-US,en;q=0.9', 'de-DE,de;q=0.8,en;q=0.5', 'fr-FR,fr;q=0.9', 'ja-JP']),
  };
  if (r() < 0.5) h.Referer = pick(r, REFERERS);
  if (r() < 0.6) {
    h.Cookie = `sid=${Math.floor(r() * 1e16).toString(36)}${Math.floor(r() * 1e16).toString(36)}; theme=${pick(r, ['dark', 'light'])}; lang=${pick(r, ['en', 'de', 'fr'])}; cart=%7B%22items%22%3A${Math.floor(r() * 5)}%7D`;
  }
  if (r() < 0.3) h['X-Client-Version'] = `${Math.floor(r() * 5)}.${Math.floor(r() * 20)}.${Math.floor(r() * 10)}`;
  if (r() < 0.2) h['X-Device-Name'] = pick(r, ["Mary's iPhone", 'Work laptop', 'Pixel 8 (Tom)', 'Kitchen tablet']);
  return h;
}

function request(r: () => number, i: number): BenignRequest {
  const kind = r();
  if (kind < 0.3) {
    // GET with a search / filter query.
    const params: Record<string, string | number> = { q: pick(r, SEARCHES), page: 1 + Math.floor(r() * 20), per_page: pick(r, [10, 20, 50, 100]) };
    if (r() < 0.5) params.sort = pick(r, ['-created_at', 'price', 'name', 'relevance', '-rating']);
    if (r() < 0.4) params['filter[status]'] = pick(r, ['open', 'closed', 'shipped', 'pending']);
    if (r() < 0.3) params.fields = pick(r, ['id,name,price', 'id,title', 'id,email,created_at']);
    if (r() < 0.3) params.from = `2025-0${1 + Math.floor(r() * 9)}-1${Math.floor(r() * 9)}`;
    if (r() < 0.2) params.tags = `${pick(r, WORDS)},${pick(r, WORDS)}`;
    if (r() < 0.2) params.callback_url = `https://${pick(r, DOMAINS)}/hooks/${i}`;
    if (r() < 0.1) params.redirect = `/account/orders/${i}`;
    if (r() < 0.15) params.utm_source = pick(r, ['newsletter', 'twitter', 'google', 'partner-site']);
    return { method: 'GET', target: `/api/${pick(r, ['products', 'search', 'orders', 'articles', 'users'])}?${q(params)}`, headers: baseHeaders(r, true) };
  }
  if (kind < 0.4) {
    // GET of a resource.
    const res = pick(r, [`/api/orders/${1000 + i}`, `/api/users/${i}/profile`, `/api/products/sku-${i % 977}`, `/blog/2025/05/${pick(r, WORDS)}-${pick(r, WORDS)}`, `/static/img/${pick(r, WORDS)}.png`, `/api/v2/items/${i}/reviews`, '/health', `/docs/getting-started`, `/api/files/report-${i}.pdf`]);
    return { method: pick(r, ['GET', 'GET', 'GET', 'HEAD', 'DELETE']), target: res, headers: baseHeaders(r, true) };
  }
  if (kind < 0.85) {
    // JSON bodies.
    const p = person(r);
    const t = r();
    let body: unknown;
    let target: string;
    if (t < 0.25) {
      target = `/api/comments`;
      body = { postId: i % 500, author: { name: `${p.first} ${p.last}`, email: p.email }, comment: text(r), rating: 1 + Math.floor(r() * 5), tags: [pick(r, WORDS), pick(r, WORDS)] };
    } else if (t < 0.45) {
      target = `/api/orders`;
      body = {
        customer: { firstName: p.first, lastName: p.last, email: p.email, phone: `+${1 + Math.floor(r() * 98)} ${Math.floor(r() * 1e9)}` },
        shipping: { street: `${1 + Math.floor(r() * 200)} ${pick(r, ["St Mary's Road", 'Main St.', 'Rue de l’Église', 'Union Ave', 'Select Way', '5th Avenue, Apt. 3B'])}`, city: pick(r, CITIES), zip: String(10000 + Math.floor(r() * 89999)), country: pick(r, ['IE', 'US', 'DE', 'FR', 'BR', 'JP']) },
        items: Array.from({ length: 1 + Math.floor(r() * 4) }, () => ({ sku: `SKU-${Math.floor(r() * 99999)}`, name: pick(r, PRODUCTS), qty: 1 + Math.floor(r() * 3), price: Math.round(r() * 20000) / 100 })),
        note: r() < 0.5 ? pick(r, SENTENCES) : '',
        coupon: r() < 0.2 ? 'SPRING-20' : null,
      };
    } else if (t < 0.6) {
      target = `/api/users/${i}`;
      body = { displayName: `${p.first} ${p.last}`, bio: text(r), website: `https://${pick(r, DOMAINS)}/~${p.first.toLowerCase()}`, location: pick(r, CITIES), settings: { newsletter: r() < 0.5, theme: pick(r, ['dark', 'light', 'system']), language: pick(r, ['en', 'de', 'fr', 'pt-BR']) } };
    } else if (t < 0.75) {
      target = `/api/articles`;
      body = { title: `${pick(r, SENTENCES).slice(0, 60)}`, slug: `${pick(r, WORDS)}-${pick(r, WORDS)}-${i}`, body: `${pick(r, MARKDOWN)}\n\n${text(r)}\n\n${text(r)}`, draft: r() < 0.3, categories: [pick(r, WORDS)] };
    } else if (t < 0.85) {
      target = `/api/search`;
      body = { query: pick(r, SEARCHES), filters: { priceMin: Math.floor(r() * 50), priceMax: 50 + Math.floor(r() * 500), brand: [pick(r, ['Acme', "Levi's", 'Dr. Martens', 'H&M', 'Marks & Spencer'])] }, sort: { field: 'price', order: pick(r, ['asc', 'desc']) }, page: { size: 20, number: 1 + Math.floor(r() * 5) } };
    } else {
      target = `/api/support/tickets`;
      body = { subject: pick(r, SENTENCES).slice(0, 50), message: `${text(r)}\n\n${pick(r, SNIPPETS)}\n\nThanks,\n${p.first}`, email: p.email, priority: pick(r, ['low', 'normal', 'high']), attachments: r() < 0.3 ? [{ name: `${pick(r, WORDS)}-${i}.png`, size: Math.floor(r() * 1e6) }] : [] };
    }
    return { method: pick(r, ['POST', 'POST', 'PUT', 'PATCH']), target, headers: { ...baseHeaders(r, true), 'Content-Type': 'application/json' }, body: JSON.stringify(body) };
  }
  // Forms: login, contact, newsletter.
  const p = person(r);
  const fields = pick(r, [
    { username: p.email, password: `${pick(r, WORDS)}-${pick(r, WORDS)}-${Math.floor(r() * 1e4)}!`, remember: 'on' },
    { name: `${p.first} ${p.last}`, email: p.email, subject: pick(r, SENTENCES).slice(0, 40), message: text(r) },
    { email: p.email, lists: 'news,offers', source: 'footer' },
    { q: pick(r, SEARCHES), category: pick(r, ['all', 'books', 'home & garden', "women's"]) },
  ]);
  return { method: 'POST', target: pick(r, ['/login', '/contact', '/newsletter', '/search']), headers: { ...baseHeaders(r, false), 'Content-Type': 'application/x-www-form-urlencoded' }, body: q(fields as Record<string, string>) };
}

/** `count` benign requests, the same ones for the same seed. */
export function generateBenignRequests(count: number, seed = 20250601): BenignRequest[] {
  const r = rng(seed);
  const out: BenignRequest[] = [];
  for (let i = 0; i < count; i++) out.push(request(r, i));
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? '50000');
  for (const req of generateBenignRequests(n)) process.stdout.write(`${JSON.stringify(req)}\n`);
}
