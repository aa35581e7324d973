/**
 * Replays a recorded IdP request sequence (test/server/fixtures/*.json) against a live server.
 *
 * A fixture is `{ "idp", "source", "steps": [...] }`; each step is
 *   { "name", "method", "path", "headers"?, "body"?, "expect": { "status", "body"? }, "save"?: { "var": "dotted.path" } }
 * `{{var}}` inside a path, header or body string is replaced by a value saved earlier (`save` reads the response
 * body, e.g. "id" or "Resources.0.id"). `expect.body` is matched as a subset: objects need the listed keys (the
 * marker "$absent" asserts a key is missing, "$any" that it is present), arrays need the same length.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { call } from './helpers.ts';
import type { Harness, Reply } from './helpers.ts';

export interface Step {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: unknown;
  readonly expect: { readonly status: number; readonly body?: unknown };
  readonly save?: Record<string, string>;
}

export interface Fixture {
  readonly idp: string;
  /** Which public documentation the sequence follows. */
  readonly source: string;
  readonly steps: readonly Step[];
}

export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8')) as Fixture;
}

function fill(value: unknown, vars: ReadonlyMap<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\{\{(\w+)\}\}/g, (_m, name: string) => {
      const v = vars.get(name);
      if (v === undefined) throw new Error(`fixture uses {{${name}}} before saving it`);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v) => fill(v, vars));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fill(v, vars)]));
  }
  return value;
}

function dig(value: unknown, path: string): unknown {
  let at: unknown = value;
  for (const part of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/** Asserts that `actual` contains `expected` (see the module comment for the rules). */
export function assertSubset(actual: unknown, expected: unknown, where: string): void {
  if (expected === '$any') {
    assert.notEqual(actual, undefined, `${where} is present`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${where} is an array`);
    assert.equal(actual.length, expected.length, `${where} has ${expected.length} elements`);
    expected.forEach((e, i) => assertSubset(actual[i], e, `${where}[${i}]`));
    return;
  }
  if (expected !== null && typeof expected === 'object') {
    assert.ok(actual !== null && typeof actual === 'object' && !Array.isArray(actual), `${where} is an object`);
    for (const [key, e] of Object.entries(expected)) {
      const a: unknown = (actual as Record<string, unknown>)[key];
      if (e === '$absent') assert.equal(a, undefined, `${where}.${key} is absent`);
      else assertSubset(a, e, `${where}.${key}`);
    }
    return;
  }
  assert.deepEqual(actual, expected, where);
}

const SCIM_BODY = /^application\/scim\+json/;

/** Runs every step in order and returns the saved variables. */
export async function replay(h: Harness, fixture: Fixture, initial: Record<string, string> = {}): Promise<Map<string, string>> {
  const vars = new Map(Object.entries(initial));
  for (const step of fixture.steps) {
    const where = `${fixture.idp}: ${step.name}`;
    const headers = fill(step.headers ?? {}, vars) as Record<string, string>;
    const options = step.body === undefined ? { headers } : { body: fill(step.body, vars), headers };
    const res: Reply = await call(h.base, step.method, fill(step.path, vars) as string, { defaultToken: h.token, ...options });
    assert.equal(res.status, step.expect.status, `${where}: status (body: ${res.text.slice(0, 500)})`);
    if (res.text !== '') assert.match(res.headers.get('content-type') ?? '', SCIM_BODY, `${where}: content type`);
    if (res.status === 201) assert.ok(res.headers.get('location'), `${where}: Location on 201`);
    if (step.expect.body !== undefined) assertSubset(res.body, fill(step.expect.body, vars), `${where}: body`);
    for (const [name, path] of Object.entries(step.save ?? {})) {
      const value = dig(res.body, path);
      assert.equal(typeof value, 'string', `${where}: ${path} to save as ${name}`);
      vars.set(name, value as string);
    }
  }
  return vars;
}
