import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_SCHEMA, ScimError } from '../../src/scim/errors.ts';

test('ScimError serialises to the RFC 7644 error shape with status as a string', () => {
  for (const status of [400, 401, 403, 404, 409, 412, 429, 500, 501] as const) {
    const body = new ScimError(status, `detail ${status}`).toJSON();
    assert.deepEqual(body, { schemas: [ERROR_SCHEMA], status: String(status), detail: `detail ${status}` });
  }
  assert.deepEqual(ScimError.uniqueness('taken').toJSON(), {
    schemas: [ERROR_SCHEMA],
    status: '409',
    scimType: 'uniqueness',
    detail: 'taken',
  });
  assert.equal(JSON.stringify(ScimError.invalidFilter('bad at 3')), '{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","detail":"bad at 3","scimType":"invalidFilter"}');
});
