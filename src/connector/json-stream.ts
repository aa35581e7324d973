/**
 * An incremental reader of a SCIM ListResponse, fed the response text as it arrives, so that a page holding a
 * 100,000-member group is never one string nor one object graph. The structure (the response object, its Resources
 * array, each resource object) is walked here; every other value's text is found by a small scanner and handed to
 * JSON.parse once complete, so values come out exactly as JSON.parse makes them. The members of each resource are
 * the exception when asked for: each member's text goes to a sink as soon as it is complete (checked by JSON.parse),
 * and the resource is returned without `members`.
 */
import type { Json } from './mapping.ts';

/** The response is not valid JSON (or ended before its JSON did). */
export class MalformedJson extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedJson';
  }
}

export interface MemberSink {
  /** A `members` array of `resource` starts (a later one replaces an earlier one, as in JSON.parse). */
  start(resource: Json): void;
  /** One member of the array last started, as its JSON text. */
  member(resource: Json, text: string): void;
}

/** Where a container sits: the response, its Resources array, one resource, or a resource's streamed members. */
const enum Level { Response, Resources, Resource, Members }
const enum Expect { KeyOrClose, Key, Colon, Value, ValueOrClose, CommaOrClose }

interface Frame {
  readonly level: Level;
  readonly array: boolean;
  readonly value: Json | unknown[];
  key: string;
  expect: Expect;
}

/** A value being scanned: where its text starts, how far the scan got, and the scanner's state there. */
interface Leaf {
  start: number;
  pos: number;
  /** 0: a string; 1: an object or array; 2: a number or literal. */
  kind: 0 | 1 | 2;
  depth: number;
  inString: boolean;
  escaped: boolean;
  isKey: boolean;
}

const QUOTE = 34;
const BACKSLASH = 92;
const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;
/** Where a number or literal ends: a delimiter or white space. */
const endsAtom = (c: number) => c === 44 || c === 125 || c === 93 || isSpace(c);

function define(target: Json, key: string, value: unknown): void {
  // A "__proto__" key stays an own property, as JSON.parse makes it, never the object's prototype.
  Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
}

export class ListResponseReader {
  private buf = '';
  private pos = 0;
  /** Characters dropped from the front of `buf` so far (for error positions). */
  private dropped = 0;
  private readonly stack: Frame[] = [];
  private leaf: Leaf | null = null;
  private done = false;
  private result: unknown = undefined;

  /** `sink`: where members go; without one, members stay in their resources like any other value. */
  constructor(private readonly sink: MemberSink | null = null) {}

  write(text: string): void {
    const keep = this.leaf ? this.leaf.start : this.pos;
    this.buf = this.buf.slice(keep) + text;
    this.dropped += keep;
    this.pos -= keep;
    if (this.leaf) {
      this.leaf.pos -= keep;
      this.leaf.start = 0;
    }
    this.pump(false);
  }

  /** The parsed response (null for an empty body); throws MalformedJson when the text is not one JSON value. */
  end(): unknown {
    this.pump(true);
    if (this.leaf || this.stack.length > 0) throw new MalformedJson(`the response ended at character ${this.dropped + this.buf.length} before its JSON was complete`);
    return this.done ? this.result : null;
  }

  private fail(what: string): never {
    throw new MalformedJson(`${what} at character ${this.dropped + this.pos}`);
  }

  private pump(final: boolean): void {
    const b = this.buf;
    for (;;) {
      if (this.leaf) {
        const end = this.scan(this.leaf, final);
        if (end < 0) return;
        this.finishLeaf(this.leaf, end);
        continue;
      }
      while (this.pos < b.length && isSpace(b.charCodeAt(this.pos))) this.pos += 1;
      if (this.pos >= b.length) return;
      const c = b.charCodeAt(this.pos);
      const frame = this.stack[this.stack.length - 1];
      if (!frame) {
        if (this.done) this.fail('unexpected text after the JSON value');
        if (c === 123) this.open(Level.Response, false);
        else this.startLeaf(c, false);
        continue;
      }
      switch (frame.expect) {
        case Expect.KeyOrClose:
        case Expect.Key:
          if (c === 125 && frame.expect === Expect.KeyOrClose) this.close();
          else if (c === QUOTE) this.startLeaf(c, true);
          else this.fail('expected a property name');
          break;
        case Expect.Colon:
          if (c !== 58) this.fail("expected ':'");
          this.pos += 1;
          frame.expect = Expect.Value;
          break;
        case Expect.Value:
        case Expect.ValueOrClose: {
          if (c === 93 && frame.expect === Expect.ValueOrClose) {
            this.close();
            break;
          }
          const level = this.childLevel(frame, c);
          if (level === null) this.startLeaf(c, false);
          else this.open(level, c === 91);
          break;
        }
        case Expect.CommaOrClose:
          if (c === 44) {
            this.pos += 1;
            frame.expect = frame.array ? Expect.Value : Expect.Key;
          } else if (c === (frame.array ? 93 : 125)) this.close();
          else this.fail(`expected ',' or '${frame.array ? ']' : '}'}'`);
          break;
      }
    }
  }

  /** The container a value opens, when it is one this reader walks rather than parses whole. */
  private childLevel(frame: Frame, c: number): Level | null {
    if (frame.level === Level.Response && c === 91 && (frame.key === 'Resources' || frame.key === 'resources')) return Level.Resources;
    if (frame.level === Level.Resources && c === 123) return Level.Resource;
    if (frame.level === Level.Resource && c === 91 && frame.key === 'members' && this.sink) return Level.Members;
    return null;
  }

  private open(level: Level, array: boolean): void {
    const value: Json | unknown[] = array ? [] : {};
    const parent = this.stack[this.stack.length - 1];
    if (level === Level.Members) this.sink?.start(parent.value as Json);
    else this.attach(parent, value);
    this.stack.push({ level, array, value, key: '', expect: array ? Expect.ValueOrClose : Expect.KeyOrClose });
    this.pos += 1;
  }

  private close(): void {
    this.stack.pop();
    this.pos += 1;
    const parent = this.stack[this.stack.length - 1];
    if (parent) parent.expect = Expect.CommaOrClose;
    else this.done = true;
  }

  /** Puts a complete value in its place: the parent's property or element, or the whole response. */
  private attach(parent: Frame | undefined, value: unknown): void {
    if (!parent) {
      this.result = value;
      this.done = true;
    } else if (parent.array) (parent.value as unknown[]).push(value);
    else define(parent.value as Json, parent.key, value);
  }

  private startLeaf(c: number, isKey: boolean): void {
    const kind = c === QUOTE ? 0 : c === 123 || c === 91 ? 1 : 2;
    this.leaf = { start: this.pos, pos: this.pos + (kind === 1 ? 0 : 1), kind, depth: 0, inString: false, escaped: false, isKey };
  }

  /** Where the leaf's text ends (exclusive), or -1 when more text is needed. */
  private scan(leaf: Leaf, final: boolean): number {
    const b = this.buf;
    let i = leaf.pos;
    if (leaf.kind === 0) {
      for (;;) {
        const q = b.indexOf('"', i);
        if (q < 0) {
          leaf.pos = b.length;
          return -1;
        }
        let slashes = 0;
        while (b.charCodeAt(q - 1 - slashes) === BACKSLASH) slashes += 1;
        if (slashes % 2 === 0) return q + 1;
        i = q + 1;
      }
    }
    if (leaf.kind === 2) {
      while (i < b.length && !endsAtom(b.charCodeAt(i))) i += 1;
      leaf.pos = i;
      return i < b.length || final ? i : -1;
    }
    let { depth, inString, escaped } = leaf;
    for (; i < b.length; i++) {
      const c = b.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === BACKSLASH) escaped = true;
        else if (c === QUOTE) inString = false;
      } else if (c === QUOTE) inString = true;
      else if (c === 123 || c === 91) depth += 1;
      else if (c === 125 || c === 93) {
        depth -= 1;
        if (depth === 0) return i + 1;
      }
    }
    Object.assign(leaf, { pos: i, depth, inString, escaped });
    return -1;
  }

  private finishLeaf(leaf: Leaf, end: number): void {
    const text = this.buf.slice(leaf.start, end);
    this.leaf = null;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      this.pos = leaf.start;
      this.fail(`invalid JSON value ${JSON.stringify(text.length > 40 ? `${text.slice(0, 40)}...` : text)}`);
    }
    this.pos = end;
    const frame = this.stack[this.stack.length - 1];
    if (leaf.isKey) {
      frame.key = value as string;
      frame.expect = Expect.Colon;
      return;
    }
    if (frame?.level === Level.Members) this.sink?.member(this.stack[this.stack.length - 2].value as Json, text);
    else this.attach(frame, value);
    if (frame) frame.expect = Expect.CommaOrClose;
  }
}
