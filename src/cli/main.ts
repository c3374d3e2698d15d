/**
 * The `portcullis` command: start, validate, keys new, --help, --version.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { newApiKey } from '../auth/api-key.ts';
import { importOpenApiCommand } from './import-openapi.ts';
import { LINT_FORMATS, lintCommand, type LintFormat } from '../lint/lint.ts';
import { selftestCommand } from '../selftest/command.ts';
import { explain, parseExplainRequest } from '../admin/explain.ts';
import { buildGatewayFromFile } from '../config/gateway.ts';
import { ConfigError, formatIssue } from '../config/errors.ts';
import { GatewayServer } from '../server/gateway-server.ts';
import { availableParallelism } from 'node:os';
import { buildGateway } from '../config/gateway.ts';
import { createLogger } from '../observability/logger.ts';
import { runPrimary, workerCount } from '../cluster/primary.ts';
import { attachWorker, configFromPrimary } from '../cluster/worker.ts';
import { clusterWorker, type WorkerIdentity } from '../store/cluster.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const HELP = `portcullis ${pkg.version} — a secure API gateway

Usage:
  portcullis start --config FILE      run the gateway
  portcullis validate --config FILE   check a config; exit 0 when valid, 1 with every error otherwise
  portcullis keys new [--consumer ID] [--prefix pcl_] [--pepper-env NAME]
                                      print a new API key (once) and the keyHash line for the config
  portcullis import-openapi FILE [--upstream NAME] [--auth NAME]
                                      print route entries (YAML, to paste under routes:) for
                                      each operation of an OpenAPI 3.0/3.1 document, validated
                                      against it (validate: { openapi: FILE })
  portcullis explain --config FILE --request 'GET /path' [-H 'name: value']... [-d BODY] [--client-ip IP]
                                      run a described request through the pipeline (no proxying)
                                      and print its decision record; exit 0 forward, 1 reject
  portcullis lint --config FILE [--strict] [--format text|json]
                                      report valid but risky settings (rule id, path, problem, fix);
                                      exit 0, or 1 with --strict and a warning (docs/lint.md)
  portcullis selftest --config FILE [--format text|json]
                                      build the config in-process against a local recording
                                      upstream and fire an attack battery at every route;
                                      exit 0 all pass, 1 any failure (docs/selftest.md)
  portcullis --help | --version

Options:
  -c, --config FILE   the YAML config (default: $PORTCULLIS_CONFIG, else ./portcullis.yaml)
  --consumer ID       keys new: the consumer id for the printed config lines
  --prefix TEXT       keys new: the key's prefix, letters, digits, "_" and "-" (default: pcl_)
  --pepper-env NAME   keys new: hash with the pepper in environment variable NAME (hmac-sha256);
                      the authenticator then needs pepper: \${NAME}
  --upstream NAME     import-openapi: the routes' upstream (default: named after the API's title)
  --auth NAME         import-openapi: the routes' authenticator, or public (default: the names
                      of the operations' security schemes)
  --strict            lint: exit 1 when there is any warning (info findings never fail)
  --format text|json  lint, selftest: the output format (default: text)
  -h, --help          this text
  -v, --version       the version

Signals: SIGTERM/SIGINT stop gracefully (in-flight requests finish, bounded by server.shutdownTimeout);
SIGHUP reloads the config (so does saving the file, and POST /config/reload on the admin API).
With server.workers > 1 the process started is the primary: send the signals to it.
Docs: README.md and docs/ of the package.`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
        consumer: { type: 'string' },
        prefix: { type: 'string' },
        'pepper-env': { type: 'string' },
        upstream: { type: 'string' },
        auth: { type: 'string' },
        request: { type: 'string', short: 'X' },
        header: { type: 'string', short: 'H', multiple: true },
        body: { type: 'string', short: 'd' },
        'client-ip': { type: 'string' },
        strict: { type: 'boolean' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    });
  } catch (err) {
    process.stderr.write(`portcullis: ${(err as Error).message}\n\n${HELP}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  const command = positionals[0];
  if (values.help || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  if (command === undefined) {
    process.stderr.write(`portcullis: no command given\n\n${HELP}\n`);
    return 2;
  }
  if (command === 'keys') {
    if (positionals[1] !== 'new' || positionals.length > 2) {
      process.stderr.write(`portcullis: usage: portcullis keys new [--consumer ID] [--prefix pcl_] [--pepper-env NAME]\n`);
      return 2;
    }
    return keysNew(values.consumer, values.prefix, values['pepper-env']);
  }
  if (command === 'import-openapi') {
    return importOpenApiCommand(positionals.slice(1), { upstream: values.upstream, auth: values.auth });
  }
  const importOption = (['upstream', 'auth'] as const).find((o) => values[o] !== undefined);
  if (importOption !== undefined) {
    process.stderr.write(`portcullis: --${importOption} belongs to "portcullis import-openapi"\n`);
    return 2;
  }
  const lintOption = (['strict', 'format'] as const).find((o) => values[o] !== undefined);
  if (lintOption !== undefined && command !== 'lint' && !(lintOption === 'format' && command === 'selftest')) {
    process.stderr.write(`portcullis: --${lintOption} belongs to "portcullis lint"\n`);
    return 2;
  }
  const keyOption = (['consumer', 'prefix', 'pepper-env'] as const).find((o) => values[o] !== undefined);
  if (keyOption !== undefined) {
    process.stderr.write(`portcullis: --${keyOption} belongs to "portcullis keys new"\n`);
    return 2;
  }
  if (positionals.length > 1) {
    // `portcullis validate my.yaml` would otherwise silently check ./portcullis.yaml.
    process.stderr.write(`portcullis: unexpected argument "${positionals[1]}" (the config is given with --config FILE)\n`);
    return 2;
  }
  const configFile = values.config ?? process.env.PORTCULLIS_CONFIG ?? 'portcullis.yaml';
  switch (command) {
    case 'validate':
      return validate(configFile);
    case 'start':
      return start(configFile);
    case 'lint': {
      const format = values.format ?? 'text';
      if (!(LINT_FORMATS as readonly string[]).includes(format)) {
        process.stderr.write(`portcullis: --format takes text or json (got ${JSON.stringify(format)})\n`);
        return 2;
      }
      return lintCommand(configFile, { strict: values.strict === true, format: format as LintFormat });
    }
    case 'selftest':
      return selftestCommand(configFile, values.format);
    case 'explain':
      return explainCommand(configFile, values.request, values.header ?? [], values.body, values['client-ip']);
    default:
      process.stderr.write(`portcullis: unknown command "${command}"\n\n${HELP}\n`);
      return 2;
  }
}

const PREFIX_RE = /^[A-Za-z0-9_-]{0,32}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Strongest pepper requirement of the config (apiKey.pepper: at least 16 characters). */
const MIN_PEPPER = 16;

/**
 * `keys new`: a fresh API key, shown once on stdout, and the consumer lines to paste under an apiKey
 * authenticator's `consumers:`. Only the hash goes into the config; the key is never stored.
 */
function keysNew(consumer: string | undefined, prefix = 'pcl_', pepperEnv: string | undefined): number {
  if (!PREFIX_RE.test(prefix)) {
    process.stderr.write(`portcullis: --prefix must be at most 32 letters, digits, "_" or "-"\n`);
    return 2;
  }
  if (consumer !== undefined && consumer.trim() === '') {
    process.stderr.write(`portcullis: --consumer must not be empty\n`);
    return 2;
  }
  let pepper: string | undefined;
  if (pepperEnv !== undefined) {
    if (!ENV_NAME_RE.test(pepperEnv)) {
      process.stderr.write(`portcullis: --pepper-env takes the name of an environment variable, e.g. API_KEY_PEPPER\n`);
      return 2;
    }
    pepper = process.env[pepperEnv];
    if (pepper === undefined || pepper === '') {
      process.stderr.write(`portcullis: environment variable ${pepperEnv} is not set (--pepper-env names the variable that holds the pepper)\n`);
      return 2;
    }
    if (pepper.length < MIN_PEPPER) {
      process.stderr.write(`portcullis: the pepper in ${pepperEnv} must be at least ${MIN_PEPPER} characters long\n`);
      return 2;
    }
  }
  const { key, keyHash } = newApiKey(prefix, pepper);
  const id = consumer === undefined ? 'CONSUMER-ID' : yamlScalar(consumer);
  const lines = [
    'New API key. It is shown only this once and will not be shown again: give it to the consumer now.',
    '',
    key,
    '',
    `Add the consumer to an apiKey authenticator's consumers${pepperEnv !== undefined ? ` (the authenticator needs pepper: \${${pepperEnv}})` : ''}:`,
    '',
    `      - id: ${id}`,
    `        keyHash: ${keyHash}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
  return 0;
}

/** A YAML scalar for an id: plain when that reads back as the same string, else double-quoted. */
function yamlScalar(s: string): string {
  if (/^[A-Za-z0-9][A-Za-z0-9._@/-]*$/.test(s) && !/^(true|false|null|yes|no|on|off|~|[0-9._-]+)$/i.test(s)) return s;
  return JSON.stringify(s);
}

async function validate(file: string): Promise<number> {
  try {
    const gateway = await buildGatewayFromFile(file);
    await gateway.close();
    process.stdout.write(`${file}: valid (${gateway.routes.length} routes, ${gateway.upstreams.size} upstreams)\n`);
    return 0;
  } catch (err) {
    return reportConfigError(file, err);
  }
}

function reportConfigError(file: string, err: unknown): number {
  if (err instanceof ConfigError) {
    process.stderr.write(`${file}: ${err.issues.length} error${err.issues.length === 1 ? '' : 's'}\n`);
    for (const issue of err.issues) process.stderr.write(`  ${formatIssue(issue)}\n`);
    return 1;
  }
  process.stderr.write(`${file}: ${(err as Error).message}\n`);
  return 1;
}

/**
 * `explain`: builds the gateway from the config (no listener, no proxying) and prints the decision
 * record of one described request as JSON. Exit 0 when the request would be forwarded, 1 when it
 * would be rejected, 2 on bad arguments.
 */
async function explainCommand(file: string, request: string | undefined, headers: string[], body: string | undefined, clientIp: string | undefined): Promise<number> {
  const m = request === undefined ? null : /^([A-Z]{1,16})\s+(\/\S*)$/.exec(request.trim());
  if (m === null) {
    process.stderr.write(`portcullis: explain needs --request 'METHOD /path?query', e.g. --request 'GET /orders/1'\n`);
    return 2;
  }
  const headerMap: Record<string, string | string[]> = {};
  for (const h of headers) {
    const colon = h.indexOf(':');
    if (colon <= 0) {
      process.stderr.write(`portcullis: -H takes 'name: value' (got ${JSON.stringify(h)})\n`);
      return 2;
    }
    const name = h.slice(0, colon).trim().toLowerCase();
    const value = h.slice(colon + 1).trim();
    const prev = headerMap[name];
    headerMap[name] = prev === undefined ? value : [prev, value].flat();
  }
  let input;
  try {
    input = parseExplainRequest({ method: m[1], path: m[2], headers: headerMap, body, clientIp });
  } catch (err) {
    process.stderr.write(`portcullis: ${(err as Error).message}\n`);
    return 2;
  }
  let gateway;
  try {
    gateway = await buildGatewayFromFile(file);
  } catch (err) {
    return reportConfigError(file, err);
  }
  try {
    const result = await explain(gateway, input);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return result.outcome === 'forward' ? 0 : 1;
  } finally {
    await gateway.close();
  }
}

async function start(file: string): Promise<number> {
  // server.workers > 1: this process becomes the cluster primary (src/cluster/primary.ts) and its
  // workers run this same function (their config comes from the primary, see src/cluster/worker.ts).
  const worker = clusterWorker();
  let server: GatewayServer;
  try {
    const gateway = worker ? await buildGateway(await configFromPrimary()) : await buildGatewayFromFile(file);
    const workers = worker ? 1 : workerCount(gateway, availableParallelism);
    if (workers > 1) return await runPrimary({ file, gateway, workers });
    server = await GatewayServer.start(gateway, worker ? { admin: false, logger: createLogger(gateway.settings.logLevel).child({ worker: worker.slot }) } : {});
  } catch (err) {
    return reportConfigError(file, err);
  }
  if (worker) return new Promise<number>((resolve) => serveAsWorker(server, worker, resolve));
  for (const a of server.addresses()) {
    const host = a.host.includes(':') ? `[${a.host}]` : a.host;
    process.stderr.write(`portcullis: listening on ${a.name}://${host}:${a.port}\n`);
  }
  if (server.admin) process.stderr.write(`portcullis: admin API on http://${server.gateway.settings.admin?.host}:${server.admin.port()}\n`);
  server.runtime.logger.info({ config: file, addresses: server.addresses() }, 'started');
  // Reload: on a change of the file, and on SIGHUP (build beside, then swap; a bad config changes nothing).
  server.watchConfig(file);
  process.on('SIGHUP', () => {
    void server.reload({ file }, 'SIGHUP').then((r) => {
      process.stderr.write(r.ok ? `portcullis: reloaded ${file}\n` : `portcullis: reload of ${file} rejected (${r.errors.length} errors); the running config stays\n`);
    });
  });
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (signalled) {
        process.stderr.write(`portcullis: ${signal} again, exiting now\n`);
        resolve(1);
        return;
      }
      signalled = true;
      process.stderr.write(`portcullis: ${signal}, draining in-flight requests\n`);
      server.stop().then(
        () => resolve(0),
        (err: unknown) => {
          process.stderr.write(`portcullis: error while stopping: ${(err as Error).message}\n`);
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

/** A cluster worker: stops on SIGTERM/SIGINT (a second one: at once) and when the primary asks. */
function serveAsWorker(server: GatewayServer, worker: WorkerIdentity, resolve: (code: number) => void): void {
  let signalled = false;
  const drain = (): void => {
    server.stop().then(
      () => resolve(0),
      () => resolve(1),
    );
  };
  const onSignal = (): void => {
    if (signalled) return resolve(1);
    signalled = true;
    drain();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  attachWorker(server, worker, () => {
    if (signalled) return;
    signalled = true;
    drain();
  });
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`portcullis: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
