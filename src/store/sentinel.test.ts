import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort, startRedis } from '../../test/helpers/redis.ts';
import { RedisStore, sentinelOptions } from './redis.ts';

describe('Redis Sentinel', () => {
  it('parses redis+sentinel:// URLs', () => {
    assert.deepEqual(sentinelOptions('redis+sentinel://a:26379,b:26380/mymaster/2'), {
      sentinels: [{ host: 'a', port: 26379 }, { host: 'b', port: 26380 }],
      name: 'mymaster',
      db: 2,
    });
    assert.deepEqual(sentinelOptions('redis+sentinel://:s3cret@a/m'), { sentinels: [{ host: 'a', port: 26379 }], name: 'm', password: 's3cret' });
    assert.throws(() => sentinelOptions('redis+sentinel://a:26379'), /master name/);
  });

  it('finds the master through a real sentinel and limits exactly', async () => {
    const master = await startRedis();
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pcl-sentinel-'));
    const port = await freePort();
    const conf = path.join(dir, 'sentinel.conf');
    await writeFile(conf, `port ${port}\nbind 127.0.0.1\nsentinel monitor pclmaster 127.0.0.1 ${master.port} 1\nsentinel down-after-milliseconds pclmaster 5000\n`);
    const sentinel = spawn('redis-server', [conf, '--sentinel'], { stdio: 'ignore' });
    const store = new RedisStore({ url: `redis+sentinel://127.0.0.1:${port}/pclmaster`, cluster: undefined, timeoutMs: 200, keyPrefix: 'pcl:' });
    try {
      await store.ready(5000);
      const rule = { id: 's', limit: 50, periodMs: 60_000, burst: 0, algorithm: 'gcra' as const };
      const verdicts = await Promise.all(Array.from({ length: 300 }, async () => (await store.consume([{ key: 'rl:{sentinel}:x', rule }]))[0]));
      assert.equal(verdicts.filter((v) => v?.allowed).length, 50);
    } finally {
      await store.close();
      sentinel.kill('SIGKILL');
      await master.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
