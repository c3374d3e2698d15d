/**
 * An incremental WebSocket frame-header reader (RFC 6455 §5.2) for the tunnel: it follows the frame
 * boundaries of one direction of a connection chunk by chunk, sums the payload lengths of a
 * fragmented message (§5.4) and reports the first frame that breaks the policy. Payloads are never
 * copied or unmasked: only the 2–14 header bytes of each frame are looked at.
 */

/** What `FrameReader.push` found in a chunk. */
export const FRAME_OK = -1;

export type FrameViolation = 'too-big' | 'unmasked' | 'masked' | 'bad-opcode' | 'bad-control';

export interface FrameReaderOptions {
  /** Largest message (sum of its data frames' payloads), bytes. */
  maxMessageBytes: number;
  /** Frames from a client must be masked (§5.1); frames from a server must not be. */
  fromClient: boolean;
}

/** Follows one direction of a WebSocket connection; one per direction per tunnel. */
export class FrameReader {
  private readonly max: number;
  private readonly fromClient: boolean;
  /** Bytes of the current frame's payload still to come (they are skipped, never read). */
  private remaining = 0;
  /** Header bytes of the frame being read (a header can span chunks). */
  private readonly head = Buffer.alloc(14);
  private headLength = 0;
  /** Payload bytes of the message so far (data frames only). */
  private messageBytes = 0;
  /** A fragmented message is open (a continuation frame is allowed). */
  private inMessage = false;
  /** Why `push` stopped; undefined while the stream is within policy. */
  violation: FrameViolation | undefined = undefined;
  /** The offending frame's header began in the reported chunk: the bytes before it end on a frame boundary. */
  cleanCut = true;

  constructor(options: FrameReaderOptions) {
    this.max = options.maxMessageBytes;
    this.fromClient = options.fromClient;
  }

  /** True between frames: a frame of the gateway's own (a close frame) can be put on the stream now. */
  get atBoundary(): boolean {
    return this.remaining === 0 && this.headLength === 0;
  }

  /**
   * Reads the frame headers in `chunk`. Returns FRAME_OK, or the offset in `chunk` where the first
   * frame that breaks the policy starts (0 when its header began in an earlier chunk): the bytes
   * before it may be forwarded, the rest must not.
   */
  push(chunk: Buffer): number {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.remaining > 0) {
        const skip = Math.min(this.remaining, n - i);
        this.remaining -= skip;
        i += skip;
        continue;
      }
      const clean = this.headLength === 0;
      const headStart = clean ? i : 0;
      // Collect the header: 2 bytes, then the extended length and the mask key.
      while (i < n && this.headLength < 2) this.head[this.headLength++] = chunk[i++] as number;
      if (this.headLength < 2) return FRAME_OK;
      const b1 = this.head[1] as number;
      const len7 = b1 & 0x7f;
      const needed = 2 + (len7 === 126 ? 2 : len7 === 127 ? 8 : 0) + (b1 & 0x80 ? 4 : 0);
      while (i < n && this.headLength < needed) this.head[this.headLength++] = chunk[i++] as number;
      if (this.headLength < needed) return FRAME_OK;
      const problem = this.frame(len7);
      this.headLength = 0;
      if (problem !== undefined) {
        this.violation = problem;
        this.cleanCut = clean;
        return headStart;
      }
    }
    return FRAME_OK;
  }

  /** The complete header in `head`: checks it and sets `remaining`. */
  private frame(len7: number): FrameViolation | undefined {
    const h = this.head;
    const b0 = h[0] as number;
    const b1 = h[1] as number;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    if (masked !== this.fromClient) return this.fromClient ? 'unmasked' : 'masked';
    let length = len7;
    if (len7 === 126) length = h.readUInt16BE(2);
    else if (len7 === 127) {
      const high = h.readUInt32BE(2);
      // Anything over 2^53 cannot be counted exactly; it is over any limit anyway.
      length = high > 0x1fffff ? Number.MAX_SAFE_INTEGER : high * 0x1_0000_0000 + h.readUInt32BE(6);
    }
    this.remaining = length;
    if (opcode >= 8) {
      // Control frames: close 8, ping 9, pong 10 (§5.5): not fragmented, at most 125 bytes.
      if (opcode > 10) return 'bad-opcode';
      if (!fin || length > 125) return 'bad-control';
      return undefined;
    }
    if (opcode === 0) {
      if (!this.inMessage) return 'bad-opcode';
      this.messageBytes += length;
    } else if (opcode === 1 || opcode === 2) {
      if (this.inMessage) return 'bad-opcode';
      this.messageBytes = length;
    } else {
      return 'bad-opcode';
    }
    this.inMessage = !fin;
    if (this.messageBytes > this.max) return 'too-big';
    return undefined;
  }
}

/** Close codes (RFC 6455 §7.4.1). */
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_TOO_BIG = 1009;

/** An unmasked close frame with `code` (server → client; §5.5.1). */
export function closeFrame(code: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b[0] = 0x88;
  b[1] = 2;
  b.writeUInt16BE(code, 2);
  return b;
}

/** A masked close frame with `code` (client → server): the gateway is the backend's client. */
export function maskedCloseFrame(code: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b[0] = 0x88;
  b[1] = 0x82;
  // A zero mask key is valid (§5.3 asks for unpredictable keys against proxy cache poisoning by
  // script-controlled payloads; this payload is the gateway's own two bytes).
  b.writeUInt32BE(0, 2);
  b.writeUInt16BE(code, 6);
  return b;
}
