import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BodySchemaCompiler, draftOf, toFieldErrors } from './body-schema.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-body-schema-'));
  await mkdir(path.join(dir, 'schemas', 'shared'), { recursive: true });
  await writeFile(
    path.join(dir, 'schemas', 'order.json'),
    JSON.stringify({
      $schema: 'https://json-schema.org/draft/2020-12/schema',
      type: 'object',
      required: ['id', 'lines'],
      properties: { id: { type: 'string', format: 'uuid' }, lines: { type: 'array', prefixItems: [{ $ref: 'shared/line.json' }], items: false } },
    }),
  );
  await writeFile(
    path.join(dir, 'schemas', 'shared', 'line.json'),
    JSON.stringify({ type: 'object', required: ['sku'], properties: { sku: { type: 'string', minLength: 3 } }, additionalProperties: false }),
  );
  await writeFile(
    path.join(dir, 'schemas', 'legacy.yaml'),
    ['$schema: "http://json-schema.org/draft-07/schema#"', 'type: array', 'items: [{ type: string }, { type: integer }]', 'additionalItems: false', ''].join('\n'),
  );
  await writeFile(path.join(dir, 'schemas', 'broken.json'), '{ "type": ');
  await writeFile(path.join(dir, 'schemas', 'remote.json'), JSON.stringify({ $ref: 'https://example.com/schema.json' }));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('draftOf', () => {
  it('picks the draft from $schema, 2020-12 by default', () => {
    assert.equal(draftOf({}), '2020-12');
    assert.equal(draftOf({ $schema: 'https://json-schema.org/draft/2020-12/schema' }), '2020-12');
    assert.equal(draftOf({ $schema: 'http://json-schema.org/draft-07/schema#' }), 'draft-07');
    assert.equal(draftOf({ $schema: 'https://json-schema.org/draft-07/schema' }), 'draft-07');
    assert.equal(draftOf({ $schema: 'http://json-schema.org/draft-04/schema#' }), undefined);
    assert.equal(draftOf({ $schema: 'https://json-schema.org/draft/2019-09/schema' }), undefined);
  });
});

interface Case {
  name: string;
  schema: unknown;
  valid: unknown[];
  invalid: [value: unknown, errors: { pointer: string; message: string }[]][];
}

const CASES: Case[] = [
  {
    name: 'inline 2020-12 (the default): required, types, additionalProperties',
    schema: { type: 'object', required: ['a'], properties: { a: { type: 'integer' }, b: { type: 'string' } }, additionalProperties: false },
    valid: [{ a: 1 }, { a: 2, b: 'x' }],
    invalid: [
      [{}, [{ pointer: '/a', message: 'is required' }]],
      [{ a: 'x', b: 1, c: true }, [{ pointer: '/c', message: 'is not allowed' }, { pointer: '/a', message: 'must be integer' }, { pointer: '/b', message: 'must be string' }]],
      [[1], [{ pointer: '', message: 'must be object' }]],
    ],
  },
  {
    name: 'formats: email, date-time, uuid, uri, ipv4',
    schema: {
      type: 'object',
      properties: {
        email: { format: 'email' },
        at: { format: 'date-time' },
        id: { format: 'uuid' },
        link: { format: 'uri' },
        ip: { format: 'ipv4' },
      },
    },
    valid: [{ email: 'a.b+c@example.co.uk', at: '2024-02-29T23:59:59.123Z', id: '0b6f3c2e-2d7a-4c53-9a55-7f2e0d1c9b11', link: 'https://example.com/a?b=c', ip: '192.0.2.1' }],
    invalid: [
      [
        { email: 'a@', at: '2024-02-30T00:00:00Z', id: 'not-a-uuid', link: 'no scheme', ip: '256.1.1.1' },
        [
          { pointer: '/email', message: 'must match format "email"' },
          { pointer: '/at', message: 'must match format "date-time"' },
          { pointer: '/id', message: 'must match format "uuid"' },
          { pointer: '/link', message: 'must match format "uri"' },
          { pointer: '/ip', message: 'must match format "ipv4"' },
        ],
      ],
    ],
  },
  {
    name: '2020-12 keywords: prefixItems, unevaluatedProperties, dependentRequired',
    schema: {
      type: 'object',
      properties: { pair: { prefixItems: [{ type: 'string' }, { type: 'number' }], items: false }, card: { type: 'string' }, cvv: { type: 'string' } },
      dependentRequired: { card: ['cvv'] },
      unevaluatedProperties: false,
    },
    valid: [{ pair: ['a', 1] }, { card: '4111', cvv: '123' }],
    invalid: [
      [{ pair: ['a', 'b'] }, [{ pointer: '/pair/1', message: 'must be number' }]],
      [{ card: '4111' }, [{ pointer: '/cvv', message: 'must have property cvv when property card is present' }]],
      [{ other: 1 }, [{ pointer: '/other', message: 'is not allowed' }]],
    ],
  },
  {
    name: 'draft-07 by $schema: array-form items, definitions, dependencies',
    schema: {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      definitions: { code: { type: 'string', pattern: '^[A-Z]{2}$' } },
      properties: { tuple: { type: 'array', items: [{ type: 'string' }, { type: 'integer' }], additionalItems: false }, country: { $ref: '#/definitions/code' } },
      dependencies: { tuple: ['country'] },
    },
    valid: [{ tuple: ['a', 1], country: 'DE' }, {}],
    invalid: [
      [{ tuple: ['a', 1, 2], country: 'de' }, [{ pointer: '/tuple', message: 'must NOT have more than 2 items' }, { pointer: '/country', message: 'must match pattern "^[A-Z]{2}$"' }]],
      [{ tuple: ['a', 1] }, [{ pointer: '/country', message: 'must have property country when property tuple is present' }]],
    ],
  },
  {
    name: '{ $ref: file } relative to the config directory, with a $ref to a file relative to it',
    schema: { $ref: 'schemas/order.json' },
    valid: [{ id: '0b6f3c2e-2d7a-4c53-9a55-7f2e0d1c9b11', lines: [{ sku: 'ABC' }] }],
    invalid: [
      [{ id: '0b6f3c2e-2d7a-4c53-9a55-7f2e0d1c9b11', lines: [{ sku: 'A', x: 1 }, {}] }, [
        { pointer: '/lines/0/x', message: 'is not allowed' },
        { pointer: '/lines/0/sku', message: 'must NOT have fewer than 3 characters' },
        { pointer: '/lines', message: 'must NOT have more than 1 items' },
      ]],
    ],
  },
  {
    name: 'a YAML file in draft-07',
    schema: { $ref: 'schemas/legacy.yaml' },
    valid: [['a', 1], ['a']],
    invalid: [[['a', 'b', 3], [{ pointer: '', message: 'must NOT have more than 2 items' }, { pointer: '/1', message: 'must be integer' }]]],
  },
  {
    name: 'an inline schema referring to a file relative to the config directory',
    schema: { type: 'object', properties: { line: { $ref: 'schemas/shared/line.json' } } },
    valid: [{ line: { sku: 'ABCD' } }],
    invalid: [[{ line: {} }, [{ pointer: '/line/sku', message: 'is required' }]]],
  },
  {
    name: 'annotations ajv does not know (example, x-*) are allowed',
    schema: { type: 'string', example: 'abc', 'x-internal': true },
    valid: ['abc'],
    invalid: [[1, [{ pointer: '', message: 'must be string' }]]],
  },
  {
    name: 'true accepts anything, false nothing',
    schema: false,
    valid: [],
    invalid: [[{}, [{ pointer: '', message: 'boolean schema is false' }]]],
  },
];

describe('body schemas: compiled once, then checked', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const validate = await new BodySchemaCompiler(dir).compile(c.schema);
      for (const v of c.valid) assert.equal(validate(v), true, `${JSON.stringify(v)}: ${JSON.stringify(validate.errors)}`);
      for (const [v, errors] of c.invalid) {
        assert.equal(validate(v), false, JSON.stringify(v));
        assert.deepEqual(toFieldErrors(validate.errors, 20), errors, JSON.stringify(v));
      }
    });
  }

  it('never changes the data (no defaults, no coercion, no removal)', async () => {
    const validate = await new BodySchemaCompiler(dir).compile({
      type: 'object',
      properties: { n: { type: 'integer', default: 5 }, s: { type: 'string' } },
      additionalProperties: false,
    });
    const value = { s: '1', extra: true };
    assert.equal(validate(value), false);
    assert.deepEqual(value, { s: '1', extra: true });
  });

  it('the error list is capped', async () => {
    const validate = await new BodySchemaCompiler(dir).compile({ type: 'array', items: { type: 'string' } });
    assert.equal(validate(Array.from({ length: 50 }, (_, i) => i)), false);
    assert.equal(toFieldErrors(validate.errors, 3).length, 3);
  });

  it('a file referenced by several routes is compiled once', async () => {
    const compiler = new BodySchemaCompiler(dir);
    const [a, b] = await Promise.all([compiler.compile({ $ref: 'schemas/order.json' }), compiler.compile({ $ref: './schemas/order.json' })]);
    assert.equal(a, b);
  });

  const BAD: [string, unknown, RegExp][] = [
    ['a missing file', { $ref: 'schemas/nope.json' }, /cannot use schemas\/nope\.json: ENOENT/],
    ['a file that is not JSON', { $ref: 'schemas/broken.json' }, /cannot use schemas\/broken\.json/],
    ['a reference to a network schema', { $ref: 'schemas/remote.json' }, /only files are loaded/],
    ['a fragment of a file', { $ref: 'schemas/order.json#/properties/id' }, /refer to a whole file/],
    ['an unsupported draft', { $schema: 'http://json-schema.org/draft-04/schema#', type: 'object' }, /draft-04.* is not supported/],
    ['an invalid schema', { type: 'objekt' }, /must be equal to one of the allowed values|must be array/],
    ['an unknown format', { type: 'string', format: 'sku' }, /unknown format "sku"/],
  ];
  for (const [name, schema, message] of BAD) {
    it(`build error: ${name}`, async () => {
      await assert.rejects(new BodySchemaCompiler(dir).compile(schema), message);
    });
  }
});
