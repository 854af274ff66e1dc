import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret } from '../../src/webhooks/secrets.js';
import { signingSecrets, signWebhook } from '../../src/webhooks/sign.js';

describe('newWebhookSecret', () => {
  it('is whsec_ + base64 of 32 random bytes, different every time', () => {
    const a = newWebhookSecret();
    expect(a).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(a.slice('whsec_'.length), 'base64')).toHaveLength(32);
    expect(newWebhookSecret()).not.toBe(a);
  });
});

describe('signWebhook', () => {
  const body = JSON.stringify({ type: 'job.completed', data: { id: 'job_1' } });

  it('produces headers the standardwebhooks verifier accepts', () => {
    const secret = newWebhookSecret();
    const now = Date.now();
    const headers = signWebhook('msg_1', body, [secret], now);
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-timestamp']).toBe(String(Math.floor(now / 1000)));
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('a different secret or a changed body fails verification', () => {
    const headers = signWebhook('msg_1', body, [newWebhookSecret()], Date.now());
    expect(() => new Webhook(newWebhookSecret()).verify(body, { ...headers })).toThrow(
      /No matching signature/,
    );
  });

  it('sends one signature per secret, space-separated, each verifying alone', () => {
    const current = newWebhookSecret();
    const previous = newWebhookSecret();
    const headers = signWebhook('msg_2', body, [current, previous], Date.now());
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, { ...headers })).toBeTruthy();
    expect(new Webhook(previous).verify(body, { ...headers })).toBeTruthy();
  });
});

describe('signingSecrets', () => {
  const base = {
    webhookSecret: 'whsec_new',
    webhookSecretPrevious: 'whsec_old',
    webhookSecretPreviousUntil: 2000,
  };

  it('includes the previous secret only while its overlap lasts', () => {
    expect(signingSecrets(base, 1999)).toEqual(['whsec_new', 'whsec_old']);
    expect(signingSecrets(base, 2000)).toEqual(['whsec_new']);
    expect(signingSecrets({ ...base, webhookSecretPrevious: null }, 0)).toEqual(['whsec_new']);
  });
});
