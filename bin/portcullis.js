#!/usr/bin/env -S node --max-semi-space-size=16 --heap-growing-percent=50
// Entry point of the `portcullis` command. The sources are TypeScript run directly by Node (type
// stripping), which needs Node.js 22.18 or newer.
//
// V8 flags (docs/performance.md, "Memory"):
// --max-semi-space-size=16: V8 sizes the young generation from the machine's memory (up to 2 × 64 MB
//   of semi-spaces on a large host), and a proxy's steady allocation of short-lived request objects
//   grows it to that maximum: ~100 MB of resident memory that buys nothing, since almost nothing a
//   request allocates survives it. 16 MB semi-spaces cost a few more scavenges per second, each one
//   short (little survives).
// --heap-growing-percent=50: after a full GC the old generation may grow by half before the next one,
//   instead of up to 4×: under steady load the resident set stays flat instead of climbing by ~1 MB/s
//   to a few hundred MB between full GCs. It is not a cap: the heap still grows as far as it needs.
// `node <other flags> bin/portcullis.js ...` chooses other values.
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(`portcullis needs Node.js >= 22.18 (this is ${process.versions.node})\n`);
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exit(await main(process.argv.slice(2)));
