/**
 * Recursive-descent parser for the SCIM filter language (RFC 7644 section 3.4.2.2) and PATCH paths (section 3.5.2).
 * Every failure is a ScimError 400 whose detail ends in `at position N` (a 0-based character offset, as in JSON.parse).
 * Recursion only happens when entering `(`, `not (` or `[`, and the depth is checked before recursing, so hostile
 * input cannot overflow the stack; `and`/`or` chains are parsed with loops into left-associative trees.
 */
import { ScimError } from '../errors.ts';
import { isForbiddenKey } from '../schema/registry.ts';
import { FILTER_MAX_DEPTH, FILTER_MAX_LENGTH } from './ast.ts';
import type { AttrPath, CompareOp, Filter, FilterValue, PatchPath } from './ast.ts';

const COMPARE_OPS: ReadonlySet<string> = new Set<CompareOp>(['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']);
/** ATTRNAME = ALPHA *(nameChar), plus the `$ref` sub-attribute of references. */
const ATTR_NAME = /^(?:[A-Za-z][A-Za-z0-9_-]*|\$ref)$/i;
const JSON_NUMBER = /^-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?$/;
/** One URN segment (RFC 8141 NSS characters we accept; `:` separates segments). */
const URN_SEGMENT = /^[A-Za-z0-9._~+%!$&'*=@;-]+$/;
/** Characters that can continue a bare word: attribute paths (with URNs), operators, keywords and numbers. */
const WORD_CHAR = /[A-Za-z0-9:._$+-]/;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

type ErrorFactory = (detail: string) => ScimError;

/** Switches that widen what parseFilter accepts, for clients that do not follow RFC 7644 (docs/compatibility.md). */
export interface FilterParseOptions {
  /**
   * Reads a bare word where a value belongs (`userName sw O`, `emails.value co example.com`) as a string. A word that
   * is a JSON literal (a number, true, false, null) keeps its meaning.
   */
  readonly bareWordValues?: boolean;
}

/** Ends a bare-word value: space, a bracket or parenthesis, or a quote. */
const BARE_VALUE_END = /[\s()[\]"]/;

interface Word {
  readonly text: string;
  readonly start: number;
}

/** Shortens input echoed back in error details. */
function quote(text: string): string {
  return JSON.stringify(text.length > 24 ? `${text.slice(0, 24)}...` : text);
}

class Parser {
  private pos = 0;
  private depth = 0;

  constructor(
    private readonly text: string,
    private makeError: ErrorFactory,
    private readonly label: string,
    private readonly options: FilterParseOptions = {},
  ) {}

  /** Runs `parse` with `makeError` for its failures (a PATCH path's filter reports invalidFilter, not invalidPath). */
  withErrors<T>(makeError: ErrorFactory, parse: () => T): T {
    const outer = this.makeError;
    this.makeError = makeError;
    try {
      return parse();
    } finally {
      this.makeError = outer;
    }
  }

  fail(message: string, at: number = this.pos): never {
    throw this.makeError(`${this.label}: ${message} at position ${at}`);
  }

  private isSpace(c: string | undefined): boolean {
    return c === ' ' || c === '\t' || c === '\n' || c === '\r';
  }

  skipSpaces(): void {
    while (this.isSpace(this.text[this.pos])) this.pos++;
  }

  /** Reads (and consumes) the bare word starting at the current position; empty when none starts here. */
  readWord(): Word {
    const start = this.pos;
    while (this.pos < this.text.length && WORD_CHAR.test(this.text[this.pos])) this.pos++;
    return { text: this.text.slice(start, this.pos), start };
  }

  /** The bare word after optional spaces, without consuming anything. */
  peekWord(): Word {
    const save = this.pos;
    this.skipSpaces();
    const word = this.readWord();
    this.pos = save;
    return word;
  }

  /** Reports the token at the current position for "expected X" messages. */
  describeHere(): string {
    if (this.pos >= this.text.length) return 'end of input';
    const word = this.peekWord();
    return word.text ? quote(word.text) : quote(this.text[this.pos]);
  }

  atEnd(): boolean {
    return this.pos >= this.text.length;
  }

  expectEnd(): void {
    this.skipSpaces();
    if (!this.atEnd()) this.fail(`unexpected ${this.describeHere()}`);
  }

  expectChar(c: string, what: string): void {
    this.skipSpaces();
    if (this.text[this.pos] !== c) this.fail(`expected ${what} but found ${this.describeHere()}`);
    this.pos++;
  }

  /** orExpr := andExpr ("or" andExpr)*, andExpr := unary ("and" unary)* */
  parseOr(inValuePath: boolean): Filter {
    return this.chain('or', () => this.chain('and', () => this.parseUnary(inValuePath)));
  }

  /** `operand (keyword operand)*` as a left-associative tree, by a loop rather than recursion. */
  private chain(keyword: 'and' | 'or', operand: () => Filter): Filter {
    let left = operand();
    for (;;) {
      const word = this.peekWord();
      if (word.text.toLowerCase() !== keyword) return left;
      this.pos = word.start + word.text.length;
      left = { kind: keyword, left, right: operand() };
    }
  }

  /**
   * Parses `( orExpr )` or `[ orExpr ]` with the cursor on the opening character: one level of `(`, `not (` or `[`,
   * refused before recursing when it would exceed the depth limit.
   */
  private enclosed(close: ')' | ']', inValuePath: boolean): Filter {
    if (this.depth >= FILTER_MAX_DEPTH) this.fail(`nesting is deeper than ${FILTER_MAX_DEPTH} levels`);
    this.depth++;
    this.pos++;
    const inner = this.parseOr(inValuePath);
    this.expectChar(close, `"${close}"`);
    this.depth--;
    return inner;
  }

  /** unary := "not" "(" orExpr ")" | "(" orExpr ")" | attrPath "pr" | attrPath compareOp value | attrPath "[" orExpr "]" */
  private parseUnary(inValuePath: boolean): Filter {
    this.skipSpaces();
    if (this.atEnd()) this.fail('expected an attribute path, "(" or "not" but found end of input');
    if (this.text[this.pos] === '(') return this.enclosed(')', inValuePath);
    const word = this.readWord();
    if (!word.text) this.fail(`expected an attribute path, "(" or "not" but found ${quote(this.text[this.pos])}`);
    if (word.text.toLowerCase() === 'not') {
      this.skipSpaces();
      if (this.text[this.pos] !== '(') this.fail(`expected "(" after "not" but found ${this.describeHere()}`);
      return { kind: 'not', filter: this.enclosed(')', inValuePath) };
    }
    const path = this.attrPath(word, inValuePath);
    this.skipSpaces();
    if (this.text[this.pos] === '[') {
      if (inValuePath) this.fail('value paths cannot be nested');
      if (path.sub !== null) this.fail('a value path must name a multi-valued attribute without a sub-attribute', word.start);
      const filter = this.bracketFilter();
      if (this.text[this.pos] === '.') this.fail('a value path in a filter cannot be followed by a sub-attribute');
      return { kind: 'valuePath', path, filter };
    }
    const opWord = this.readWord();
    const op = opWord.text.toLowerCase();
    if (op === 'pr') return { kind: 'present', path };
    if (!COMPARE_OPS.has(op)) {
      this.pos = opWord.start;
      this.fail(`expected an operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr) or "[" but found ${this.describeHere()}`);
    }
    return { kind: 'compare', path, op: op as CompareOp, value: this.parseValue() };
  }

  /** Parses `[ valFilter ]` with the cursor on `[`. */
  bracketFilter(): Filter {
    return this.enclosed(']', true);
  }

  /** compValue := false / null / true / number / string (JSON); keywords are case-insensitive. */
  private parseValue(): FilterValue {
    this.skipSpaces();
    if (this.text[this.pos] === '"') return this.parseString();
    const word = this.options.bareWordValues ? this.readBareValue() : this.readWord();
    const lower = word.text.toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
    if (lower === 'null') return null;
    if (JSON_NUMBER.test(word.text)) {
      const n = Number(word.text);
      if (!Number.isFinite(n)) this.fail(`number ${quote(word.text)} is out of range`, word.start);
      return n;
    }
    if (this.options.bareWordValues && word.text !== '') return word.text;
    this.pos = word.start;
    this.fail(`expected a value (a JSON string, number, true, false or null) but found ${this.describeHere()}`);
  }

  /** A bare-word value: everything up to a space, a bracket, a parenthesis or a quote. */
  private readBareValue(): Word {
    const start = this.pos;
    while (this.pos < this.text.length && !BARE_VALUE_END.test(this.text[this.pos])) this.pos++;
    return { text: this.text.slice(start, this.pos), start };
  }

  /** A JSON string literal with the cursor on its opening quote. */
  private parseString(): string {
    const start = this.pos;
    this.pos++;
    let out = '';
    let chunk = this.pos;
    for (;;) {
      if (this.pos >= this.text.length) this.fail('unterminated string', start);
      const c = this.text[this.pos];
      if (c === '"') {
        out += this.text.slice(chunk, this.pos);
        this.pos++;
        return out;
      }
      if (c < ' ') this.fail('control characters must be escaped inside strings');
      if (c !== '\\') {
        this.pos++;
        continue;
      }
      out += this.text.slice(chunk, this.pos);
      const e = this.text[this.pos + 1];
      if (e === 'u') {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9A-Fa-f]{4}$/.test(hex)) this.fail('invalid \\u escape (expected 4 hex digits)');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else if (e !== undefined && Object.hasOwn(ESCAPES, e)) {
        out += ESCAPES[e];
        this.pos += 2;
      } else {
        this.fail(e === undefined ? 'unterminated string' : `invalid escape "\\${e}"`);
      }
      chunk = this.pos;
    }
  }

  /** Validates one attribute name (or sub-attribute) found at `at`. */
  attrName(name: string, at: number): void {
    if (isForbiddenKey(name)) this.fail(`attribute name ${quote(name)} is not allowed`, at);
    if (!ATTR_NAME.test(name)) this.fail(`invalid attribute name ${quote(name)}`, at);
  }

  /** The attribute path that starts the input, after optional spaces, and the word it was read from. */
  leadingAttrPath(): { path: AttrPath; word: Word } {
    this.skipSpaces();
    const word = this.readWord();
    if (!word.text) this.fail(`expected an attribute path but found ${this.describeHere()}`);
    return { path: this.attrPath(word, false), word };
  }

  /**
   * attrPath := [URN ":"] ATTRNAME ["." subAttr]. The URN is everything up to the last colon; inside a value path
   * only a bare sub-attribute name is allowed, since names there are relative to the multi-valued attribute.
   */
  attrPath(word: Word, inValuePath: boolean): AttrPath {
    const text = word.text;
    let urn: string | null = null;
    let rest = text;
    let restAt = word.start;
    const colon = text.lastIndexOf(':');
    if (colon >= 0) {
      if (text.slice(0, 4).toLowerCase() !== 'urn:') this.fail(`invalid attribute path ${quote(text)} (a schema prefix must start with "urn:")`, word.start);
      urn = text.slice(0, colon);
      const segments = urn.split(':');
      let at = word.start;
      for (const segment of segments) {
        if (!URN_SEGMENT.test(segment)) this.fail(`invalid schema URN ${quote(urn)}`, at);
        at += segment.length + 1;
      }
      if (segments.length < 2) this.fail(`invalid schema URN ${quote(urn)}`, word.start);
      rest = text.slice(colon + 1);
      restAt = word.start + colon + 1;
    }
    const dot = rest.indexOf('.');
    const name = dot < 0 ? rest : rest.slice(0, dot);
    const sub = dot < 0 ? null : rest.slice(dot + 1);
    this.attrName(name, restAt);
    if (sub !== null) this.attrName(sub, restAt + dot + 1);
    if (inValuePath && (urn !== null || sub !== null)) {
      this.fail(`inside "[...]" attributes are sub-attribute names without a schema or "." (found ${quote(text)})`, word.start);
    }
    return { urn, name, sub };
  }
}

/** Checks the input's type and length, then starts a parser whose every error comes from `makeError`. */
function parserFor(text: unknown, makeError: ErrorFactory, label: string, options?: FilterParseOptions): Parser {
  if (typeof text !== 'string') throw makeError(`${label}: expected a string`);
  if (text.length > FILTER_MAX_LENGTH) throw makeError(`${label}: longer than ${FILTER_MAX_LENGTH} characters`);
  return new Parser(text, makeError, label, options);
}

/** Parses a filter expression; any bad input throws ScimError 400 invalidFilter. */
export function parseFilter(text: string, options?: FilterParseOptions): Filter {
  const parser = parserFor(text, ScimError.invalidFilter, 'Invalid filter', options);
  const filter = parser.parseOr(false);
  parser.expectEnd();
  return filter;
}

/**
 * Parses a PATCH path: `attrPath` or `valuePath[.subAttr]`. Bad input throws ScimError 400 invalidPath, except inside
 * the brackets, where it is invalidFilter (RFC 7644 section 3.12 lists "PATCH (Path Filter)" under invalidFilter).
 */
export function parsePatchPath(text: string): PatchPath {
  const parser = parserFor(text, ScimError.invalidPath, 'Invalid path');
  const { path: attribute, word } = parser.leadingAttrPath();
  let filter: Filter | null = null;
  let subAfterFilter: string | null = null;
  if (text[word.start + word.text.length] === '[') {
    if (attribute.sub !== null) parser.fail('a value path must name a multi-valued attribute without a sub-attribute', word.start);
    filter = parser.withErrors(ScimError.invalidFilter, () => parser.bracketFilter());
    const next = parser.readWord();
    if (next.text) {
      if (!next.text.startsWith('.')) parser.fail(`unexpected ${JSON.stringify(next.text)}`, next.start);
      subAfterFilter = next.text.slice(1);
      parser.attrName(subAfterFilter, next.start + 1);
    }
  }
  parser.expectEnd();
  return { attribute, filter, subAfterFilter };
}

/**
 * Parses a plain attribute path (`sortBy`, entries of `attributes` / `excludedAttributes`), allowing surrounding
 * spaces. Bad input throws ScimError 400 invalidPath.
 */
export function parseAttrPath(text: string): AttrPath {
  const parser = parserFor(text, ScimError.invalidPath, 'Invalid attribute path');
  const { path } = parser.leadingAttrPath();
  parser.expectEnd();
  return path;
}
