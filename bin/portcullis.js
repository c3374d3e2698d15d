#!/usr/bin/env node
// Entry point of the `portcullis` command. The sources are TypeScript run directly by Node (type
// stripping), which needs Node.js 22.18 or newer.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`portcullis needs Node.js >= 22.18 (this is ${process.versions.node})\n`);
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exit(await main(process.argv.slice(2)));
