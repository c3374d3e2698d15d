import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { compileOpenApi, compileOpenApiSync, OpenApiConfigError, type OpenApiInput, type OpenApiResult, type OpenApiValidator } from './openapi.ts';

const FIXTURES = fileURLToPath(new URL('../../../test/fixtures/openapi/', import.meta.url));
const ORDERS = path.join(FIXTURES, 'orders.yaml');
const STORE = path.join(FIXTURES, 'store.json');
const TRACE = '0b8c8b34-4a8c-4f5a-9b1e-2e5a0c6d7e8f';

type Req = Partial<OpenApiInput> & { path: string };

function run(v: OpenApiValidator, r: Req): OpenApiResult | null {
  return v.validate({ method: 'GET', query: '', headers: {}, body: undefined, contentType: undefined, ...r });
}

/** `null` (valid), or the status and the error pointers. */
type Expect = null | { status: number; pointers?: string[]; messages?: string[]; allow?: string[] };

interface Case {
  name: string;
  req: Req;
  expect: Expect;
}

function check(v: () => OpenApiValidator, cases: readonly Case[]): void {
  for (const c of cases) {
    it(c.name, () => {
      const r = run(v(), c.req);
      if (c.expect === null) {
        assert.equal(r, null, JSON.stringify(r));
        return;
      }
      assert.ok(r, 'expected a rejection');
      assert.equal(r.status, c.expect.status, JSON.stringify(r));
      if (c.expect.pointers) assert.deepEqual(r.errors.map((e) => e.pointer), c.expect.pointers);
      if (c.expect.messages) assert.deepEqual(r.errors.map((e) => e.message), c.expect.messages);
      if (c.expect.allow) assert.deepEqual(r.allow, c.expect.allow);
    });
  }
}

let orders: OpenApiValidator;
let store: OpenApiValidator;
before(async () => {
  orders = await compileOpenApi(ORDERS);
  store = await compileOpenApi(STORE);
});

const listOrders = (query: string, headers: Record<string, string> = {}): Req => ({
  path: '/v1/orders',
  query,
  headers: { 'x-trace': TRACE, ...headers },
});

describe('OpenAPI 3.0 (YAML): query, header and cookie parameters', () => {
  check(() => orders, [
    { name: 'all valid', req: listOrders('limit=5&status=open,shipped&tag=1&tag=2&filter[color]=red&filter[size]=2', { cookie: 'session=abcd' }), expect: null },
    { name: 'optional parameters absent', req: listOrders(''), expect: null },
    { name: 'integer from a $ref parameter: too big', req: listOrders('limit=500'), expect: { status: 400, pointers: ['#/query/limit'], messages: ['must be <= 100'] } },
    { name: 'integer: not a number', req: listOrders('limit=ten'), expect: { status: 400, pointers: ['#/query/limit'], messages: ['must be integer'] } },
    { name: 'integer: a fraction', req: listOrders('limit=1.5'), expect: { status: 400, pointers: ['#/query/limit'] } },
    { name: 'integer: empty', req: listOrders('limit='), expect: { status: 400, pointers: ['#/query/limit'] } },
    { name: 'repeated single value (parameter pollution)', req: listOrders('limit=1&limit=99'), expect: { status: 400, pointers: ['#/query/limit'], messages: ['must not be repeated'] } },
    { name: 'malformed percent-encoding', req: listOrders('limit=%zz'), expect: { status: 400, pointers: ['#/query/limit'], messages: ['has malformed percent-encoding'] } },
    { name: 'form explode=false array: enum item', req: listOrders('status=open,nope'), expect: { status: 400, pointers: ['#/query/status/1'], messages: ['must be one of "open", "shipped", "closed"'] } },
    { name: 'form explode=false: an encoded comma is no separator', req: listOrders('status=open%2Cshipped'), expect: { status: 400, pointers: ['#/query/status/0'] } },
    { name: 'form explode=true array: integer items', req: listOrders('tag=1&tag=x'), expect: { status: 400, pointers: ['#/query/tag/1'], messages: ['must be integer'] } },
    { name: 'deepObject: additionalProperties false', req: listOrders('filter[colour]=red'), expect: { status: 400, pointers: ['#/query/filter/colour'], messages: ['is not allowed'] } },
    { name: 'deepObject: property type', req: listOrders('filter[size]=0'), expect: { status: 400, pointers: ['#/query/filter/size'], messages: ['must be >= 1'] } },
    { name: 'deepObject: percent-encoded brackets', req: listOrders('filter%5Bsize%5D=3'), expect: null },
    { name: 'required header missing', req: { path: '/v1/orders' }, expect: { status: 400, pointers: ['#/header/x-trace'], messages: ['is required'] } },
    { name: 'header from a second file: format uuid', req: listOrders('', { 'x-trace': 'not-a-uuid' }), expect: { status: 400, pointers: ['#/header/x-trace'], messages: ['must match format "uuid"'] } },
    { name: 'cookie: minLength', req: listOrders('', { cookie: 'a=1; session=ab' }), expect: { status: 400, pointers: ['#/cookie/session'] } },
    { name: 'every failing parameter is listed, in path/query/header/cookie order', req: { path: '/v1/orders', query: 'limit=0', headers: { cookie: 'session=x' } }, expect: { status: 400, pointers: ['#/query/limit', '#/header/x-trace', '#/cookie/session'] } },
    { name: 'Accept header parameter is ignored (OpenAPI)', req: listOrders(''), expect: null },
    { name: 'unknown query parameters are allowed', req: listOrders('whatever=1'), expect: null },
  ]);
});

describe('OpenAPI 3.0: styles of path, query and header parameters', () => {
  check(() => orders, [
    { name: 'path simple integer', req: { path: '/v1/orders/12' }, expect: null },
    { name: 'path simple integer: not one', req: { path: '/v1/orders/abc' }, expect: { status: 400, pointers: ['#/path/id'], messages: ['must be integer'] } },
    { name: 'path minimum from a path-level parameter', req: { path: '/v1/orders/0' }, expect: { status: 400, pointers: ['#/path/id'] } },
    { name: 'path label array', req: { path: '/v1/labels/.1,2,3' }, expect: null },
    { name: 'path label: missing "."', req: { path: '/v1/labels/1,2' }, expect: { status: 400, pointers: ['#/path/ids'] } },
    { name: 'path matrix explode array', req: { path: '/v1/matrix/;ids=1;ids=2' }, expect: null },
    { name: 'path matrix explode array: bad item', req: { path: '/v1/matrix/;ids=1;ids=x' }, expect: { status: 400, pointers: ['#/path/ids/1'] } },
    { name: 'path matrix primitive', req: { path: '/v1/matrix-one/;id=5' }, expect: null },
    { name: 'path matrix primitive: other name', req: { path: '/v1/matrix-one/;other=5' }, expect: { status: 400, pointers: ['#/path/id'] } },
    { name: 'path simple exploded object', req: { path: '/v1/colors/R=1,G=2,B=3' }, expect: null },
    { name: 'path simple exploded object: property type', req: { path: '/v1/colors/R=1,G=2,B=x' }, expect: { status: 400, pointers: ['#/path/rgb/B'] } },
    { name: 'path simple exploded object: required property', req: { path: '/v1/colors/R=1,G=2' }, expect: { status: 400, pointers: ['#/path/rgb/B'], messages: ['is required'] } },
    { name: 'path: percent-decoded', req: { path: '/v1/files/a%20b.json' }, expect: null },
    { name: 'query spaceDelimited, pipeDelimited, exploded object, boolean, header array, JSON content', req: { path: '/v1/search', query: 'words=a%20b+c&ids=1|2|3&x=1.5&y=2&exact=true&q=%7B%22a%22%3A1%7D', headers: { 'x-ids': '1, 2' } }, expect: null },
    { name: 'pipeDelimited item', req: { path: '/v1/search', query: 'ids=1|2|x' }, expect: { status: 400, pointers: ['#/query/ids/2'] } },
    { name: 'exploded form object property', req: { path: '/v1/search', query: 'x=left' }, expect: { status: 400, pointers: ['#/query/point/x'] } },
    { name: 'boolean', req: { path: '/v1/search', query: 'exact=yes' }, expect: { status: 400, pointers: ['#/query/exact'], messages: ['must be boolean'] } },
    { name: 'header simple array item', req: { path: '/v1/search', headers: { 'x-ids': '1, two' } }, expect: { status: 400, pointers: ['#/header/x-ids/1'] } },
    { name: 'JSON content parameter: not JSON', req: { path: '/v1/search', query: 'q=%7B' }, expect: { status: 400, pointers: ['#/query/q'], messages: ['must be JSON'] } },
    { name: 'JSON content parameter: schema', req: { path: '/v1/search', query: 'q=%7B%7D' }, expect: { status: 400, pointers: ['#/query/q/a'], messages: ['is required'] } },
    { name: 'mixed segment template {name}.{ext}', req: { path: '/v1/files/a.json' }, expect: null },
    { name: 'mixed segment template: enum of ext', req: { path: '/v1/files/a.xml' }, expect: { status: 400, pointers: ['#/path/ext'] } },
    { name: 'whole-segment template when the mixed one does not match', req: { path: '/v1/files/readme' }, expect: null },
  ]);
});

const order = (body: unknown, contentType = 'application/json'): Req => ({ method: 'POST', path: '/v1/orders', body, contentType });
const item = { sku: 'ABC-123', qty: 1 };

describe('OpenAPI 3.0: request bodies', () => {
  check(() => orders, [
    { name: 'valid (readOnly "id" is required in the schema, not in requests)', req: order({ status: 'open', items: [item] }), expect: null },
    { name: 'writeOnly property accepted', req: order({ status: 'open', items: [item], secret: 's' }), expect: null },
    { name: 'nullable string', req: order({ status: 'open', items: [item], note: null }), expect: null },
    { name: 'required property of an item: pointer to it', req: order({ status: 'open', items: [{ qty: 1 }] }), expect: { status: 400, pointers: ['/items/0/sku'], messages: ['is required'] } },
    { name: 'exclusiveMinimum: true', req: order({ status: 'open', items: [{ sku: 'ABC-123', qty: 0 }] }), expect: { status: 400, pointers: ['/items/0/qty'], messages: ['must be > 0'] } },
    { name: 'pattern', req: order({ status: 'open', items: [{ sku: 'abc', qty: 1 }] }), expect: { status: 400, pointers: ['/items/0/sku'] } },
    { name: 'additionalProperties false', req: order({ status: 'open', items: [item], admin: true }), expect: { status: 400, pointers: ['/admin'], messages: ['is not allowed'] } },
    { name: 'enum', req: order({ status: 'lost', items: [item] }), expect: { status: 400, pointers: ['/status'] } },
    { name: 'required body missing', req: { method: 'POST', path: '/v1/orders' }, expect: { status: 400, pointers: [''], messages: ['the request body is required'] } },
    { name: 'media type not in the operation: 415', req: order('x', 'text/plain'), expect: { status: 415, pointers: ['#/header/content-type'] } },
    { name: 'no Content-Type with a body: 415', req: { method: 'POST', path: '/v1/orders', body: {} }, expect: { status: 415 } },
    { name: 'urlencoded form: fields coerced', req: order({ sku: 'a', qty: '2', gift: 'true', codes: ['1', '2'] }, 'application/x-www-form-urlencoded'), expect: null },
    { name: 'urlencoded form: one value of an array field', req: order({ sku: 'a', qty: '2', codes: '7' }, 'application/x-www-form-urlencoded'), expect: null },
    { name: 'urlencoded form: field type', req: order({ sku: 'a', qty: 'two' }, 'application/x-www-form-urlencoded'), expect: { status: 400, pointers: ['/qty'] } },
    { name: '+json media type and nullable with maxLength', req: { method: 'PATCH', path: '/v1/orders/3/notes', contentType: 'application/merge-patch+json', body: { note: null } }, expect: null },
    { name: '+json media type: maxLength', req: { method: 'PATCH', path: '/v1/orders/3/notes', contentType: 'application/merge-patch+json', body: { note: 'far too long a note' } }, expect: { status: 400, pointers: ['/note'] } },
    { name: 'optional body absent', req: { method: 'PATCH', path: '/v1/orders/3/notes' }, expect: null },
    { name: 'wildcard media type application/*, 3.0 nullable enum and nullable allOf', req: { method: 'PUT', path: '/v1/measures', contentType: 'application/json', body: { temp: 20, kind: null, ref: null } }, expect: null },
    { name: 'exclusiveMinimum with minimum -50', req: { method: 'PUT', path: '/v1/measures', contentType: 'application/json', body: { temp: -50 } }, expect: { status: 400, pointers: ['/temp'], messages: ['must be > -50'] } },
    { name: 'exclusiveMaximum: false keeps maximum inclusive', req: { method: 'PUT', path: '/v1/measures', contentType: 'application/json', body: { temp: 60 } }, expect: null },
    { name: 'nullable allOf still checks the object', req: { method: 'PUT', path: '/v1/measures', contentType: 'application/json', body: { ref: { sku: 'x' } } }, expect: { status: 400 } },
    { name: 'recursive schema: deep error', req: { method: 'POST', path: '/v1/trees', contentType: 'application/json', body: { name: 'a', children: [{ name: 'b', children: [{ name: 3 }] }] } }, expect: { status: 400, pointers: ['/children/0/children/0/name'] } },
    { name: 'recursive schema: valid', req: { method: 'POST', path: '/v1/trees', contentType: 'application/json', body: { name: 'a', children: [{ name: 'b', children: [{ name: 'c' }] }] } }, expect: null },
  ]);
});

const customer = (body: unknown): Req => ({ method: 'POST', path: '/v1/customers', contentType: 'application/json', body });
describe('OpenAPI 3.0: schemas in a second file (allOf, formats, nullable, readOnly across allOf)', () => {
  check(() => orders, [
    { name: 'valid: readOnly "id" of the allOf base is not required', req: customer({ email: 'a@example.com', name: 'Ann', nickname: null, birthday: '1990-02-03' }), expect: null },
    { name: 'email format', req: customer({ email: 'nope', name: 'Ann' }), expect: { status: 400, pointers: ['/email'], messages: ['must match format "email"'] } },
    { name: 'date format', req: customer({ email: 'a@example.com', name: 'Ann', birthday: '1990-02-30' }), expect: { status: 400, pointers: ['/birthday'] } },
    { name: 'date-time format', req: customer({ email: 'a@example.com', name: 'Ann', createdAt: 'yesterday' }), expect: { status: 400, pointers: ['/createdAt'] } },
    { name: 'nested $ref within the second file', req: customer({ email: 'a@example.com', name: 'Ann', address: { city: 'X', zip: '123' } }), expect: { status: 400, pointers: ['/address/zip'] } },
    { name: 'required of an allOf member', req: customer({ name: 'Ann' }), expect: { status: 400, pointers: ['/email'] } },
  ]);
});

describe('OpenAPI 3.1 (JSON)', () => {
  const pet = (body: unknown): Req => ({ method: 'POST', path: '/v2/pets', contentType: 'application/json', body });
  check(() => store, [
    { name: 'query: type [boolean, null], exclusiveMinimum number, explode=false array', req: { path: '/v2/pets', query: 'vaccinated=true&weight=1.5&ids=1,2,3' }, expect: null },
    { name: 'server variable enum: the other base path', req: { path: '/v3/pets' }, expect: null },
    { name: 'type list message', req: { path: '/v2/pets', query: 'vaccinated=maybe' }, expect: { status: 400, pointers: ['#/query/vaccinated'], messages: ['must be boolean or null'] } },
    { name: 'numeric exclusiveMinimum', req: { path: '/v2/pets', query: 'weight=0' }, expect: { status: 400, pointers: ['#/query/weight'], messages: ['must be > 0'] } },
    { name: 'maxItems', req: { path: '/v2/pets', query: 'ids=1,2,3,4' }, expect: { status: 400, pointers: ['#/query/ids'] } },
    { name: 'body valid: readOnly on a $ref sibling, const, null, ref to a 3.0 file', req: pet({ name: 'rex', kind: 'dog', tag: null, home: { city: 'x' }, born: '2020-01-01T00:00:00Z' }), expect: null },
    { name: 'const', req: pet({ name: 'rex', kind: 'cat' }), expect: { status: 400, pointers: ['/kind'], messages: ['must be "dog"'] } },
    { name: 'unevaluatedProperties false', req: pet({ name: 'rex', kind: 'dog', extra: 1 }), expect: { status: 400, pointers: ['/extra'], messages: ['is not allowed'] } },
    { name: 'date-time', req: pet({ name: 'rex', kind: 'dog', born: 'yesterday' }), expect: { status: 400, pointers: ['/born'] } },
    { name: 'body required', req: { method: 'POST', path: '/v2/pets' }, expect: { status: 400, pointers: [''] } },
    { name: 'recursive schema through anyOf', req: { method: 'PUT', path: '/v2/nodes', contentType: 'application/json', body: { value: 1, next: { value: 2, next: { value: 'x' } } } }, expect: { status: 400, pointers: ['/next/next/value'] } },
    { name: 'path uuid', req: { path: '/v2/pets/0b8c8b34-4a8c-4f5a-9b1e-2e5a0c6d7e8f' }, expect: null },
    { name: 'path uuid: invalid', req: { path: '/v2/pets/42' }, expect: { status: 400, pointers: ['#/path/petId'] } },
  ]);
});

describe('operation lookup', () => {
  check(() => orders, [
    { name: 'literal segment beats a template (/orders/mine before /orders/{id})', req: { path: '/v1/orders/mine', query: 'since=2024-01-01T00:00:00Z' }, expect: null },
    { name: 'literal path: its own parameters', req: { path: '/v1/orders/mine', query: 'since=never' }, expect: { status: 400, pointers: ['#/query/since'] } },
    { name: 'method missing on the literal path falls through to the template', req: { method: 'DELETE', path: '/v1/orders/mine', query: 'reason=x' }, expect: { status: 400, pointers: ['#/path/id'] } },
    { name: '405 with the methods of the path', req: { method: 'POST', path: '/v1/orders/12' }, expect: { status: 405, pointers: ['#/method'], allow: ['DELETE', 'GET', 'HEAD'] } },
    { name: 'HEAD uses the GET operation', req: { method: 'HEAD', path: '/v1/orders/abc' }, expect: { status: 400, pointers: ['#/path/id'] } },
    { name: 'unknown path: 404', req: { path: '/v1/nothing' }, expect: { status: 404, pointers: ['#/path'] } },
    { name: 'outside the server base path: 404', req: { path: '/orders/12' }, expect: { status: 404 } },
    { name: 'base path must end at a segment', req: { path: '/v1x/orders/12' }, expect: { status: 404 } },
    { name: 'trailing slash is significant: /orders/12/', req: { path: '/v1/orders/12/' }, expect: { status: 404 } },
    { name: 'trailing slash template matches with it', req: { path: '/v1/slash/' }, expect: null },
    { name: 'trailing slash template does not match without it', req: { path: '/v1/slash' }, expect: { status: 404 } },
    { name: 'an empty segment never fills a template', req: { path: '/v1/orders//notes', method: 'PATCH' }, expect: { status: 404 } },
  ]);

  it('unknownOperation: 404 hides the methods', async () => {
    const v = await compileOpenApi(ORDERS, { unknownOperation: 404 });
    assert.deepEqual(run(v, { method: 'POST', path: '/v1/orders/12' }), { status: 404, errors: [{ pointer: '#/path', message: 'the API has no operation for this path' }] });
  });

  it('basePath overrides the servers', async () => {
    const v = await compileOpenApi(ORDERS, { basePath: '/' });
    assert.equal(run(v, { path: '/orders/12' }), null);
    assert.equal(run(v, { path: '/v1/orders/12' })?.status, 404);
    const api = compileOpenApiSync(ORDERS, { basePath: '/api/v1/' });
    assert.equal(run(api, { path: '/api/v1/orders/12' }), null);
  });

  it('needsBody: whether any operation has a request body', () => {
    assert.equal(orders.needsBody, true);
  });
});

describe('bad documents: the error names the file and the JSON pointer', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-openapi-'));
    await writeFile(path.join(dir, 'parts.yaml'), 'Thing: { type: object }\nBroken: { type: integr }\n');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const head = 'openapi: 3.0.3\ninfo: { title: t, version: "1" }\n';
  const body = (schema: string) => `${head}paths:\n  /a:\n    post:\n      requestBody:\n        content:\n          application/json:\n            schema: ${schema}\n`;
  const bodyPointer = '#/paths/~1a/post/requestBody/content/application~1json/schema';
  const cases: { name: string; text: string; pointer: string; message: RegExp }[] = [
    { name: 'not YAML', text: 'openapi: [', pointer: '', message: /not valid YAML at line/ },
    { name: 'Swagger 2.0', text: 'swagger: "2.0"\n', pointer: '#/swagger', message: /Swagger 2\.0/ },
    { name: 'unknown version', text: 'openapi: 4.0.0\n', pointer: '#/openapi', message: /3\.0\.x or 3\.1\.x/ },
    { name: 'unresolved internal $ref', text: body("{ $ref: '#/components/schemas/Nope' }"), pointer: bodyPointer, message: /unresolved \$ref: nothing at .*#\/components\/schemas\/Nope/ },
    { name: '$ref to a missing file', text: body("{ $ref: 'missing.yaml#/X' }"), pointer: bodyPointer, message: /cannot read .*missing\.yaml/ },
    { name: '$ref to a missing pointer in another file', text: body("{ $ref: 'parts.yaml#/Nope' }"), pointer: bodyPointer, message: /unresolved \$ref/ },
    { name: 'remote $ref', text: body("{ $ref: 'https://example.com/s.json' }"), pointer: bodyPointer, message: /only local files/ },
    { name: 'schema ajv rejects', text: body('{ type: object, properties: { n: { type: integr } } }'), pointer: `${bodyPointer}/properties/n/type`, message: /invalid schema/ },
    { name: 'invalid regular expression', text: body("{ type: string, pattern: '([a-z' }"), pointer: `${bodyPointer}/pattern`, message: /invalid regular expression/ },
    { name: 'template expression without a path parameter', text: `${head}paths:\n  /a/{id}:\n    get: {}\n`, pointer: '#/paths/~1a~1{id}/get', message: /\{id\} has no path parameter/ },
    { name: 'path parameter not in the template', text: `${head}paths:\n  /a:\n    get:\n      parameters: [{ name: id, in: path, required: true, schema: { type: string } }]\n`, pointer: '#/paths/~1a/get/parameters/0/name', message: /not in the path template/ },
    { name: 'unsupported style', text: `${head}paths:\n  /a:\n    get:\n      parameters: [{ name: q, in: query, style: matrix, schema: { type: string } }]\n`, pointer: '#/paths/~1a/get/parameters/0/style', message: /not supported for query/ },
    { name: 'parameter $ref cycle', text: `${head}paths:\n  /a:\n    get:\n      parameters: [{ $ref: '#/components/parameters/A' }]\ncomponents:\n  parameters:\n    A: { $ref: '#/components/parameters/B' }\n    B: { $ref: '#/components/parameters/A' }\n`, pointer: '#/paths/~1a/get/parameters/0', message: /cycle/ },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const file = path.join(dir, `${c.name.replace(/\W+/g, '-')}.yaml`);
      await writeFile(file, c.text);
      await assert.rejects(compileOpenApi(file), (err: unknown) => {
        assert.ok(err instanceof OpenApiConfigError, String(err));
        assert.equal(err.file, file);
        assert.equal(err.pointer, c.pointer.replace(/^#/, ''));
        assert.ok(err.message.startsWith(`${file}${c.pointer}: `), err.message);
        assert.match(err.message, c.message);
        return true;
      });
    });
  }

  it('an invalid schema in another file is named at its own place', async () => {
    const file = path.join(dir, 'cross.yaml');
    await writeFile(file, body("{ $ref: 'parts.yaml#/Broken' }"));
    await assert.rejects(compileOpenApi(file), (err: unknown) => {
      assert.ok(err instanceof OpenApiConfigError);
      assert.equal(err.file, path.join(dir, 'parts.yaml'));
      assert.equal(err.pointer, '/Broken/type');
      return true;
    });
  });

  it('an unreadable document', async () => {
    const file = path.join(dir, 'absent.yaml');
    await assert.rejects(compileOpenApi(file), { name: 'OpenApiConfigError', message: new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot read`) });
  });

  it('one document in many routes is compiled once, and again when a file of it changes', async () => {
    const file = path.join(dir, 'cached.yaml');
    const doc = (max: number) => `${head}paths:\n  /a:\n    get:\n      parameters: [{ $ref: 'parts-${max}.yaml#/Limit' }]\n`;
    await writeFile(path.join(dir, 'parts-1.yaml'), 'Limit: { name: n, in: query, schema: { type: integer, maximum: 1 } }\n');
    await writeFile(file, doc(1));
    const first = await compileOpenApi(file);
    assert.equal(await compileOpenApi(file), first);
    assert.notEqual(await compileOpenApi(file, { unknownOperation: 404 }), first, 'other options, another validator');
    await writeFile(path.join(dir, 'parts-1.yaml'), 'Limit: { name: n, in: query, schema: { type: integer, maximum: 5 } }\n');
    const second = await compileOpenApi(file);
    assert.notEqual(second, first, 'a referenced file changed');
    assert.equal(run(second, { path: '/a', query: 'n=5' }), null);
    assert.equal(run(first, { path: '/a', query: 'n=5' })?.status, 400, 'the old validator is unchanged');
  });

  it('needsBody is false without request bodies', async () => {
    const file = path.join(dir, 'get-only.yaml');
    await writeFile(file, `${head}paths:\n  /a:\n    get: {}\n`);
    assert.equal((await compileOpenApi(file)).needsBody, false);
  });
});
