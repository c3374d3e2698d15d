/**
 * The `portcullis` command: start, validate, --help, --version.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildGatewayFromFile } from '../config/gateway.ts';
import { ConfigError, formatIssue } from '../config/errors.ts';
import { GatewayServer } from '../server/gateway-server.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const HELP = `portcullis ${pkg.version} — a secure API gateway

Usage:
  portcullis start --config FILE      run the gateway
  portcullis validate --config FILE   check a config; exit 0 when valid, 1 with every error otherwise
  portcullis --help | --version

Options:
  -c, --config FILE   the YAML config (default: $PORTCULLIS_CONFIG, else ./portcullis.yaml)
  -h, --help          this text
  -v, --version       the version

Signals: SIGTERM/SIGINT stop gracefully (in-flight requests finish, bounded by server.shutdownTimeout).
Docs: README.md and docs/ of the package.`;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: 'string', short: 'c' },
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
    default:
      process.stderr.write(`portcullis: unknown command "${command}"\n\n${HELP}\n`);
      return 2;
  }
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

async function start(file: string): Promise<number> {
  let server: GatewayServer;
  try {
    const gateway = await buildGatewayFromFile(file);
    server = await GatewayServer.start(gateway);
  } catch (err) {
    return reportConfigError(file, err);
  }
  for (const a of server.addresses()) {
    const host = a.host.includes(':') ? `[${a.host}]` : a.host;
    process.stderr.write(`portcullis: listening on ${a.name}://${host}:${a.port}\n`);
  }
  server.runtime.logger.info({ config: file, addresses: server.addresses() }, 'started');
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

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`portcullis: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
