import { describe, expect, it } from 'vitest';
import { checkUrlAtSubmission, parseFetchAllow, parseUrlHost } from '../../src/media/url-policy.js';

/** URLs refused at submission, with a fragment of the reason. Every spelling of loopback is here. */
const BLOCKED: Array<[string, string]> = [
  ['ftp://example.com/a.png', 'scheme'],
  ['file:///etc/passwd', 'scheme'],
  ['gopher://example.com/', 'scheme'],
  ['data:image/png;base64,AAAA', 'scheme'],
  ['javascript:alert(1)', 'scheme'],
  ['not a url', 'not a valid'],
  ['/relative/path.png', 'not a valid'],
  ['http://user:pass@example.com/a.png', 'credentials'],
  ['http://user@example.com/a.png', 'credentials'],
  ['https://:secret@example.com/', 'credentials'],
  ['http://localhost/', 'loopback name'],
  ['http://LOCALHOST:8080/', 'loopback name'],
  ['http://localhost./', 'loopback name'],
  ['http://api.localhost/', 'loopback name'],
  ['http://ｌｏｃａｌｈｏｓｔ/', 'loopback name'],
  ['http://127.0.0.1/', 'loopback'],
  ['http://127.0.0.1./', 'loopback'],
  ['http://127.1/', 'loopback'],
  ['http://127.0.1/', 'loopback'],
  ['http://2130706433/', 'loopback'],
  ['http://0177.0.0.1/', 'loopback'],
  ['http://0177.1/', 'loopback'],
  ['http://0x7f.1/', 'loopback'],
  ['http://0x7f000001/', 'loopback'],
  ['http://0x7F.0x0.0x0.0x1/', 'loopback'],
  ['http://%31%32%37.0.0.1/', 'loopback'],
  ['http://%31%32%37%2e%30%2e%30%2e%31/', 'loopback'],
  ['http://①②⑦.0.0.1/', 'loopback'],
  ['http://１２７.０.０.１/', 'loopback'],
  ['http://[::1]/', 'loopback'],
  ['http://[0:0:0:0:0:0:0:1]/', 'loopback'],
  ['http://[::ffff:127.0.0.1]/', 'ipv4-mapped:loopback'],
  ['http://[::ffff:7f00:1]/', 'ipv4-mapped:loopback'],
  ['http://[::ffff:a9fe:a9fe]/', 'ipv4-mapped:link-local'],
  ['http://[64:ff9b::127.0.0.1]/', 'nat64:loopback'],
  ['http://[2002:7f00:1::]/', '6to4:loopback'],
  ['http://[fe80::1]/', 'link-local'],
  ['http://[fd00::1]/', 'unique-local'],
  ['http://[::]/', 'unspecified'],
  ['http://0/', 'unspecified'],
  ['http://0.0.0.0:8080/', 'unspecified'],
  ['http://10.0.0.1/', 'private'],
  ['http://012.0.0.1/', 'private'],
  ['http://167772161/', 'private'],
  ['http://192.168.1.1/', 'private'],
  ['http://172.16.0.1/', 'private'],
  ['http://169.254.169.254/latest/meta-data/', 'link-local'],
  ['http://0xa9fea9fe/', 'link-local'],
  ['http://100.64.0.1/', 'carrier-grade-nat'],
  ['http://198.18.0.1/', 'benchmarking'],
  ['http://224.0.0.1/', 'multicast'],
  ['http://255.255.255.255/', 'broadcast'],
];

const ACCEPTED: string[] = [
  'https://example.com/a.png',
  'http://example.com:8080/a.png?x=1#frag',
  'https://8.8.8.8/image.jpg',
  'http://134744072/', // decimal 8.8.8.8
  'http://0x08080808/',
  'https://[2606:4700:4700::1111]/',
  'https://[::ffff:8.8.8.8]/',
  'https://bücher.example/',
  'https://xn--bcher-kva.example/',
  'https://localhost.example.com/',
  'https://127.0.0.1.nip.io/', // a name: decided by DNS at fetch time, not here
];

describe('checkUrlAtSubmission', () => {
  it.each(BLOCKED)('refuses %s', (url, reason) => {
    expect(checkUrlAtSubmission(url)).toContain(reason);
  });

  it.each(ACCEPTED.map((u) => [u]))('leaves %s to fetch time', (url) => {
    expect(checkUrlAtSubmission(url)).toBeNull();
  });

  it('lets an allowlisted HOST:PORT through, and only that port', () => {
    const allow = ['127.0.0.1:9000', 'localhost:9001'];
    expect(checkUrlAtSubmission('http://127.0.0.1:9000/x.png', allow)).toBeNull();
    expect(checkUrlAtSubmission('http://0x7f.1:9000/x.png', allow)).toBeNull();
    expect(checkUrlAtSubmission('http://localhost:9001/x.png', allow)).toBeNull();
    expect(checkUrlAtSubmission('http://127.0.0.1:9001/x.png', allow)).toContain('loopback');
    expect(checkUrlAtSubmission('http://localhost:9000/x.png', allow)).toContain('loopback');
  });

  it('matches allowlist entries on the default port of the scheme', () => {
    expect(checkUrlAtSubmission('http://10.1.2.3/a', ['10.1.2.3:80'])).toBeNull();
    expect(checkUrlAtSubmission('https://10.1.2.3/a', ['10.1.2.3:80'])).toContain('private');
    expect(checkUrlAtSubmission('https://10.1.2.3/a', ['10.1.2.3:443'])).toBeNull();
  });
});

describe('parseFetchAllow', () => {
  it('normalises hosts the way URLs are', () => {
    expect([...parseFetchAllow(['MinIO.Internal:9000', '0x7f.1:80', '[::1]:8080'])]).toEqual([
      'minio.internal:9000',
      '127.0.0.1:80',
      '::1:8080',
    ]);
  });

  it.each([['minio'], ['minio:'], ['minio:0'], ['minio:70000'], ['http://minio:9000'], ['a b:1'], ['u@h:1']])(
    'names the setting when %s is malformed',
    (entry) => {
      expect(() => parseFetchAllow([entry])).toThrow(/--fetch-allow.*HOST:PORT/);
    },
  );
});

describe('parseUrlHost', () => {
  it('returns the literal IP of a numeric host and the default port', () => {
    const r = parseUrlHost('https://[::ffff:127.0.0.1]/a');
    expect(r).toMatchObject({
      ok: true,
      target: { hostname: '::ffff:7f00:1', port: 443, ip: '::ffff:7f00:1' },
    });
    expect(parseUrlHost('http://Example.COM./a')).toMatchObject({
      ok: true,
      target: { hostname: 'example.com', port: 80, ip: null },
    });
  });
});
