import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { plainConfig, startGateway, startUpstream } from '../helpers/harness.ts';

const repo = path.resolve(import.meta.dirname, '../..');

describe('graceful stop', () => {
  it('finishes in-flight requests, refuses new connections, then resolves', async () => {
    const upstream = await startUpstream((req, res) => {
      setTimeout(() => res.end('slow done'), 400).unref();
    });
    const gw = await startGateway(plainConfig(upstream.url));
    try {
      const inflight = request(`http://127.0.0.1:${gw.httpPort}/slow`).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
      await sleep(100);
      const stopped = gw.server.stop(5000);
      await sleep(50);
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(gw.httpPort, '127.0.0.1');
        s.once('connect', () => {
          s.once('close', () => resolve('closed'));
          s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
          s.once('data', () => resolve('answered'));
        });
        s.once('error', () => resolve('refused'));
      });
      assert.notEqual(refused, 'answered');
      assert.deepEqual(await inflight, { status: 200, text: 'slow done' });
      await stopped;
    } finally {
      await gw.close();
      await upstream.close();
    }
  });

  it('bounds the wait by the shutdown timeout', async () => {
    const upstream = await startUpstream(() => {
      /* never answers */
    });
    const gw = await startGateway(plainConfig(upstream.url));
    try {
      const pending = request(`http://127.0.0.1:${gw.httpPort}/hang`).catch((e: Error) => e);
      await sleep(100);
      const t0 = Date.now();
      await gw.server.stop(300);
      assert.ok(Date.now() - t0 < 2000);
      assert.ok((await pending) instanceof Error);
    } finally {
      await upstream.close();
    }
  });
});

describe('the portcullis command', () => {
  it('starts on a config, writes the access log with secrets redacted, and exits 0 on SIGTERM after draining', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-cli-'));
    const upstream = await startUpstream((req, res) => {
      setTimeout(() => res.end('ok'), 300).unref();
    });
    const logFile = path.join(dir, 'access.log');
    const config = plainConfig(upstream.url).replace('accessLog: "off"', `accessLog: ${logFile}`);
    await writeFile(path.join(dir, 'gw.yaml'), config);
    const child = spawn(process.execPath, [path.join(repo, 'bin/portcullis.js'), 'start', '--config', path.join(dir, 'gw.yaml')], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let stderr = '';
      child.stderr.setEncoding('utf8');
      const port = await new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no listen line: ${stderr}`)), 10_000);
        child.stderr.on('data', (d: string) => {
          stderr += d;
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
          if (m) {
            clearTimeout(t);
            resolve(Number(m[1]));
          }
        });
      });
      const inflight = request(`http://127.0.0.1:${port}/x?api_key=SECRET123&page=2`, {
        headers: { authorization: 'Bearer SECRETTOKEN', cookie: 'session=SECRETCOOKIE' },
      }).then(async (r) => ({ status: r.statusCode, text: await r.body.text() }));
      await sleep(100);
      child.kill('SIGTERM');
      assert.deepEqual(await inflight, { status: 200, text: 'ok' });
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 0);
      const log = await readFile(logFile, 'utf8');
      const line = JSON.parse(log.trim().split('\n').at(-1) as string) as Record<string, unknown>;
      assert.equal(line.status, 200);
      assert.equal(line.route, 'all');
      assert.equal(line.path, '/x');
      assert.equal(line.query, 'api_key=[REDACTED]&page=2');
      assert.equal(line.clientIp, '127.0.0.1');
      assert.equal(typeof line.durationMs, 'number');
      assert.doesNotMatch(log, /SECRET/);
    } finally {
      child.kill('SIGKILL');
      await upstream.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
