/**
 * Where a page's streamed group members wait between the response and the page's transaction: the transaction can
 * only start once the whole page has arrived (a resource's id may come after its members), and must not hold a
 * 100,000-member group in memory. Members are kept as their JSON text, one per line, in memory up to a budget and
 * then in a temporary file, and read back a batch at a time. Reading is synchronous and can be repeated, as a
 * transaction body that may run again requires.
 */
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MemberSink } from './json-stream.ts';
import type { Json } from './mapping.ts';

/**
 * Member text kept in memory before the spool moves to a file (a 10,000-member group is about 1.7 MB). Small: the
 * lines in memory hold on to the response text they were cut from, and a file costs little (a 20,000-member group:
 * 4 MB written and read back once, a few ms).
 */
export const SPOOL_MEMORY_BYTES = 512 * 1024;
/** Bytes read from the file at a time. */
const READ_BYTES = 256 * 1024;
/**
 * Most characters of member text joined into one string for a write: at most 64 KiB even as a two-byte string, below
 * V8's large-object size (128 KiB), so that the string dies young. Larger ones went to the large-object space, where
 * they waited for a scavenge as garbage: 3.6 MB of them at a sync's peak, with a 20,000-member group.
 */
const WRITE_CHARS = 32 * 1024;

interface Segment {
  /** Line number of its first member (memory) and byte offset of it (file). */
  readonly firstLine: number;
  readonly startByte: number;
  count: number;
  endByte: number;
}

export class MemberSpool implements MemberSink {
  private readonly segments = new Map<Json, Segment>();
  private lines: string[] = [];
  private bytes = 0;
  private fd: number | null = null;
  private pending: string[] = [];
  private pendingChars = 0;

  constructor(private readonly memoryBytes = SPOOL_MEMORY_BYTES) {}

  start(resource: Json): void {
    this.flush();
    this.segments.set(resource, { firstLine: this.lines.length, startByte: this.bytes, count: 0, endByte: this.bytes });
  }

  member(resource: Json, text: string): void {
    const segment = this.segments.get(resource) as Segment;
    // White space between tokens may hold a line break; inside JSON strings line breaks are always escaped.
    const line = text.includes('\n') || text.includes('\r') ? text.replace(/[\r\n]/g, ' ') : text;
    const size = Buffer.byteLength(line) + 1;
    if (this.fd === null) {
      this.lines.push(line);
      if (this.bytes + size > this.memoryBytes) this.spill();
    } else {
      this.pending.push(line);
      this.pendingChars += line.length + 1;
      if (this.pendingChars >= WRITE_CHARS) this.flush();
    }
    this.bytes += size;
    segment.count += 1;
    segment.endByte = this.bytes;
  }

  /** Whether `resource`'s members came through this spool (otherwise they are in the resource itself). */
  has(resource: Json): boolean {
    return this.segments.has(resource);
  }

  /** The members of `resource`, parsed one at a time. */
  *members(resource: Json): Generator<unknown> {
    const segment = this.segments.get(resource);
    if (!segment || segment.count === 0) return;
    if (this.fd === null) {
      for (let i = segment.firstLine; i < segment.firstLine + segment.count; i++) yield JSON.parse(this.lines[i]);
      return;
    }
    this.flush();
    // No larger than the group's text: a page reads each of its groups, most of them small.
    const block = Buffer.allocUnsafe(Math.min(READ_BYTES, segment.endByte - segment.startByte));
    let carry: Buffer | null = null;
    for (let at = segment.startByte; at < segment.endByte;) {
      const n = readSync(this.fd, block, 0, Math.min(READ_BYTES, segment.endByte - at), at);
      if (n === 0) throw new Error('the member spool file ended early');
      at += n;
      // A line break byte never occurs inside a multi-byte UTF-8 character, so lines split safely on bytes.
      const data: Buffer = carry ? Buffer.concat([carry, block.subarray(0, n)]) : block.subarray(0, n);
      let from = 0;
      for (let nl = data.indexOf(10, from); nl >= 0; nl = data.indexOf(10, from)) {
        yield JSON.parse(data.toString('utf8', from, nl));
        from = nl + 1;
      }
      carry = from < data.length ? Buffer.from(data.subarray(from)) : null;
    }
  }

  /**
   * Moves what is in memory to a temporary file; members from now on go there. The file is removed as soon as it is
   * open (the descriptor keeps it until closed): a sync killed with SIGKILL would otherwise leave the members there.
   */
  private spill(): void {
    const dir = mkdtempSync(join(tmpdir(), 'scimkit-members-'));
    try {
      this.fd = openSync(join(dir, 'members.ndjson'), 'w+', 0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    this.pending = this.lines;
    this.lines = [];
    this.flush();
  }

  private flush(): void {
    if (this.fd === null || this.pending.length === 0) return;
    // What spilling moves from memory is written in pieces too.
    let from = 0;
    let chars = 0;
    for (let i = 0; i < this.pending.length; i++) {
      chars += this.pending[i].length + 1;
      if (chars >= WRITE_CHARS || i === this.pending.length - 1) {
        writeSync(this.fd, `${this.pending.slice(from, i + 1).join('\n')}\n`);
        from = i + 1;
        chars = 0;
      }
    }
    this.pending = [];
    this.pendingChars = 0;
  }

  /** Drops everything, file included. */
  close(): void {
    this.lines = [];
    this.pending = [];
    this.segments.clear();
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
