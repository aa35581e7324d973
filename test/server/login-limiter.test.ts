/**
 * The console's sign-in limiter (src/server/sessions.ts) on its own, on a clock of the test's: its memory is bounded
 * (LoginLimiter.MAX_KEYS counted keys), and filling that memory with failures for other accounts does not make it
 * forget the account under attack.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DEFAULT_LOGIN_LIMITS, LoginLimiter } from '../../src/server/sessions.ts';

describe('the sign-in limiter', () => {
  test('a flood of failures for other accounts, from many addresses, does not make it forget a locked account', () => {
    let now = Date.UTC(2026, 11, 5, 12);
    const limiter = new LoginLimiter({}, () => now);
    // The attacked account: locked by failures from several addresses (each within its own limit).
    for (let i = 0; i < DEFAULT_LOGIN_LIMITS.perAccount; i++) {
      limiter.failed(`10.0.0.${Math.floor(i / DEFAULT_LOGIN_LIMITS.perAddress)}`, 'ops@example.com');
      now += 10;
    }
    assert.ok(limiter.retryAfterMs('10.9.9.9', 'ops@example.com') > 0, 'the account is locked');
    // Twice the limiter's room in distinct accounts, each address failing as often as it may.
    for (let i = 0; i < 2 * LoginLimiter.MAX_KEYS; i++) {
      limiter.failed(`fd00::${Math.floor(i / DEFAULT_LOGIN_LIMITS.perAddress).toString(16)}`, `guess-${i}@example.com`);
      now += 1;
    }
    assert.ok(limiter.retryAfterMs('10.9.9.9', 'ops@example.com') > 0, 'the account is still locked');
    // Once the window has passed, it may try again.
    now += DEFAULT_LOGIN_LIMITS.windowMs;
    assert.equal(limiter.retryAfterMs('10.9.9.9', 'ops@example.com'), 0);
  });

  test('an account failed more often than the flood keys outlives them, locked or not', () => {
    let now = Date.UTC(2026, 11, 5, 12);
    const limiter = new LoginLimiter({}, () => now);
    for (let i = 0; i < 30; i++) limiter.failed(`10.0.1.${Math.floor(i / 10)}`, 'admin@example.com');
    for (let i = 0; i < 2 * LoginLimiter.MAX_KEYS; i++) {
      limiter.failed(`fd01::${Math.floor(i / DEFAULT_LOGIN_LIMITS.perAddress).toString(16)}`, `guess-${i}@example.com`);
      now += 1;
    }
    // 20 more failures lock it: the 30 before were kept.
    for (let i = 0; i < 20; i++) limiter.failed(`10.0.2.${Math.floor(i / 10)}`, 'admin@example.com');
    assert.ok(limiter.retryAfterMs('10.9.9.9', 'admin@example.com') > 0);
  });
});
