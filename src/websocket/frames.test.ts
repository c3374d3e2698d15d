import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closeFrame, FRAME_OK, FrameReader, maskedCloseFrame } from './frames.ts';

/** A frame header (and `payload` zero bytes) as a client (masked) or a server sends it. */
function frame(opcode: number, length: number, options: { fin?: boolean; masked?: boolean } = {}): Buffer {
  const fin = options.fin ?? true;
  const masked = options.masked ?? true;
  const ext = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (masked ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  const len7 = ext === 0 ? length : ext === 2 ? 126 : 127;
  head[1] = (masked ? 0x80 : 0) | len7;
  if (ext === 2) head.writeUInt16BE(length, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([head, Buffer.alloc(length, 0x41)]);
}

const reader = (max = 1000, fromClient = true): FrameReader => new FrameReader({ maxMessageBytes: max, fromClient });

describe('FrameReader', () => {
  const cases: { name: string; frames: Buffer[]; max?: number; fromClient?: boolean; violation?: string }[] = [
    { name: 'text frame within the limit', frames: [frame(1, 10)] },
    { name: 'binary frame of exactly the limit', frames: [frame(2, 1000)] },
    { name: 'frame over the limit', frames: [frame(2, 1001)], violation: 'too-big' },
    { name: '16-bit length over the limit', frames: [frame(2, 70_000)], max: 65_535, violation: 'too-big' },
    { name: '64-bit length within the limit', frames: [frame(2, 70_000)], max: 100_000 },
    { name: 'fragments that sum over the limit', frames: [frame(1, 600, { fin: false }), frame(0, 600)], violation: 'too-big' },
    { name: 'fragments within the limit, control frame between', frames: [frame(1, 400, { fin: false }), frame(9, 4), frame(0, 400)] },
    { name: 'two messages each within the limit', frames: [frame(1, 900), frame(1, 900)] },
    { name: 'unmasked client frame', frames: [frame(1, 3, { masked: false })], violation: 'unmasked' },
    { name: 'masked server frame', frames: [frame(1, 3)], fromClient: false, violation: 'masked' },
    { name: 'continuation without a message', frames: [frame(0, 3)], violation: 'bad-opcode' },
    { name: 'new message inside a fragmented one', frames: [frame(1, 3, { fin: false }), frame(1, 3)], violation: 'bad-opcode' },
    { name: 'reserved opcode', frames: [frame(3, 3)], violation: 'bad-opcode' },
    { name: 'fragmented control frame', frames: [frame(9, 3, { fin: false })], violation: 'bad-control' },
    { name: 'oversize control frame', frames: [frame(8, 126)], violation: 'bad-control' },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const bytes = Buffer.concat(c.frames);
      // Whole, and one byte at a time: the result must not depend on how the stream is cut.
      for (const step of [bytes.length, 1, 7]) {
        const r = reader(c.max, c.fromClient);
        for (let i = 0; i < bytes.length && r.violation === undefined; i += step) r.push(bytes.subarray(i, i + step));
        assert.equal(r.violation, c.violation, `step ${step}`);
      }
    });
  }

  it('reports the offset of the offending frame so that the bytes before it can be forwarded', () => {
    const ok = frame(1, 5);
    const r = reader(100);
    const chunk = Buffer.concat([ok, frame(2, 200)]);
    assert.equal(r.push(chunk), ok.length);
    assert.equal(r.cleanCut, true);
  });

  it('tells when the offending header began in an earlier chunk', () => {
    const big = frame(2, 200);
    const r = reader(100);
    assert.equal(r.push(big.subarray(0, 1)), FRAME_OK);
    assert.equal(r.atBoundary, false);
    assert.equal(r.push(big.subarray(1)), 0);
    assert.equal(r.cleanCut, false);
  });

  it('builds close frames that a reader accepts', () => {
    assert.deepEqual([...closeFrame(1009)], [0x88, 2, 0x03, 0xf1]);
    const fromServer = reader(10, false);
    assert.equal(fromServer.push(closeFrame(1009)), FRAME_OK);
    assert.equal(fromServer.atBoundary, true);
    const fromClient = reader(10, true);
    assert.equal(fromClient.push(maskedCloseFrame(1001)), FRAME_OK);
    assert.equal(fromClient.atBoundary, true);
  });
});
