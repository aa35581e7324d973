/**
 * The streaming ListResponse reader against JSON.parse, with the text split at every kind of place, and the member
 * spool in memory and in its file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ListResponseReader, MalformedJson } from '../../src/connector/json-stream.ts';
import type { Json } from '../../src/connector/mapping.ts';
import { MemberSpool } from '../../src/connector/member-spool.ts';

/** Reads `text` in pieces of `step` characters; returns the body and each resource's members as parsed values. */
function read(text: string, step: number, memoryBytes?: number): { body: unknown; members: (resource: Json) => unknown[]; spool: MemberSpool } {
  const spool = new MemberSpool(memoryBytes);
  const reader = new ListResponseReader(spool);
  for (let i = 0; i < text.length; i += step) reader.write(text.slice(i, i + step));
  return { body: reader.end(), members: (r) => [...spool.members(r)], spool };
}

const SAMPLES = [
  '{"totalResults":2,"Resources":[{"id":"a","members":[{"value":"u1"},{"value":"u\\"2\\\\"}],"x":{"y":[1,2,{"z":"]}"}]}},5,null,{"id":"b"}],"nextCursor":"c"}',
  '{\n  "Resources" : [ {\n "members" : [ {\n  "value" : "é\\u00e9 ☃ 𝄞",\n  "display": "a\\nb"\n }\n ] ,\n "id" : "g"\n } ],\n "totalResults" : 1e0\n}\n',
  '{"resources":[{"id":"g","members":null}],"Resources":[]}',
  '{}', '[1,2]', '"text"', '-12.5e3', 'true', '', '   ',
];

describe('the streaming ListResponse reader', () => {
  it('reads what JSON.parse reads, with members handed over one by one, however the text is split', () => {
    for (const text of SAMPLES) {
      const expected = text.trim() === '' ? null : (JSON.parse(text) as unknown);
      for (const step of [1, 2, 3, 5, 8, 13, 64, 100_000]) {
        const { body, members } = read(text, step);
        const resources = (body as Json | null)?.Resources;
        const want = structuredClone(expected) as Json | null;
        const wantResources = Array.isArray(want?.Resources) ? (want.Resources as unknown[]) : [];
        if (Array.isArray(resources)) {
          resources.forEach((r, i) => {
            const w = wantResources[i] as Json;
            if (w && typeof w === 'object' && Array.isArray(w.members)) {
              assert.deepEqual(members(r as Json), w.members, `members of resource ${i} (step ${step})`);
              delete w.members;
            }
          });
        }
        assert.deepEqual(body, want, `${JSON.stringify(text)} in pieces of ${step}`);
      }
    }
  });

  it('keeps "__proto__" keys as plain data, as JSON.parse does', () => {
    const { body } = read('{"__proto__":{"polluted":true},"Resources":[{"__proto__":{"polluted":true},"id":"x","members":[]}]}', 4);
    const o = body as Json;
    assert.deepEqual(Object.keys(o), ['__proto__', 'Resources']);
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.equal(Object.getPrototypeOf((o.Resources as Json[])[0]), Object.prototype);
    assert.equal(({} as Json).polluted, undefined);
  });

  it('takes the last of two members arrays, as JSON.parse takes the last of two keys', () => {
    const { body, members } = read('{"Resources":[{"members":[{"value":"1"}],"id":"g","members":[{"value":"2"}]}]}', 3);
    assert.deepEqual(members((body as { Resources: Json[] }).Resources[0]), [{ value: '2' }]);
  });

  it('refuses text that is not one JSON value, naming where', () => {
    const bad: [string, RegExp][] = [
      ['{"Resources":[{"id":"g","members":[{"value":"1"},{"value":', /ended at character \d+ before its JSON was complete/],
      ['{"Resources":[{"id":"g","members":[{"value":"1"},]}]}', /at character 49/],
      ['{"a":tru}', /invalid JSON value "tru" at character 5/],
      ['{"a" 1}', /expected ':' at character 5/],
      ['{"a":1}{}', /unexpected text after the JSON value at character 7/],
      ['{"a":[1,2}', /invalid JSON value/],
      ['{,}', /expected a property name at character 1/],
      ['\ufeff{}', /invalid JSON value/],
      ['{"Resources":[{"members":[{"v":"\u0001"}]}]}', /invalid JSON value/],
    ];
    for (const [text, message] of bad) {
      for (const step of [1, 7, 1000]) assert.throws(() => read(text, step), (err: Error) => err instanceof MalformedJson && message.test(err.message), `${JSON.stringify(text)} in pieces of ${step}`);
    }
  });
});

describe('the member spool', () => {
  it('gives back each resource\'s members from memory, and from its file once past the memory budget', () => {
    const members = Array.from({ length: 15_000 }, (_, i) => ({ value: `u${i}`, display: i % 7 === 0 ? `line\nbreak ☃ 𝄞 ${i}` : `User ${i} of the example organization`, type: 'User' }));
    // Over a megabyte of members: the file is read in more than one block, lines straddling the blocks.
    const text = JSON.stringify({ Resources: [{ id: 'small', members: members.slice(0, 3) }, { id: 'big', members }, { id: 'none' }] }, null, 1);
    for (const budget of [1 << 30, 10_000]) {
      const { body, members: of, spool } = read(text, 4096, budget);
      const [small, big, none] = (body as { Resources: Json[] }).Resources;
      assert.deepEqual(of(small), members.slice(0, 3));
      assert.deepEqual(of(big), members);
      assert.deepEqual(of(big), members, 'read again, as a transaction that runs again does');
      assert.equal(spool.has(none), false);
      spool.close();
    }
  });
  it('leaves no file behind, even while it is open: a sync killed with SIGKILL mid-page cannot remove its file', () => {
    const members = Array.from({ length: 2_000 }, (_, i) => ({ value: `u${i}`, display: `User ${i}` }));
    const ownTmp = mkdtempSync(join(tmpdir(), 'scimkit-spool-test-'));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = ownTmp;
    try {
      const { body, members: of, spool } = read(JSON.stringify({ Resources: [{ id: 'g', members }] }), 4096, 10_000);
      assert.deepEqual(readdirSync(ownTmp), [], 'nothing in the temporary directory while the spool holds its members');
      assert.deepEqual(of((body as { Resources: Json[] }).Resources[0]), members, 'the members are read back from the open file');
      spool.close();
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      rmSync(ownTmp, { recursive: true, force: true });
    }
  });
});
