/** Data shared by the benchmarks. */
import { USER_SCHEMA } from '../src/scim/schema/index.ts';

/** The i-th benchmark user: unique userName and externalId, spread names and titles, one in ten inactive. */
export function benchUser(i: number): Record<string, unknown> {
  return {
    schemas: [USER_SCHEMA],
    userName: `user${i}@example.com`,
    externalId: `ext-${i}`,
    name: { givenName: `Given${i % 1000}`, familyName: `Family${i % 7919}` },
    displayName: `User Number ${i}`,
    active: i % 10 !== 0,
    emails: [{ value: `user${i}@example.com`, type: 'work', primary: true }],
    title: ['Engineer', 'Manager', 'Designer', 'Analyst'][i % 4],
  };
}
