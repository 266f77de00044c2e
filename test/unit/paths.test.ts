import { describe, expect, it } from 'vitest';
import { parseAddress, parseAddresses } from '../../shared/paths.ts';
import { CleaverError } from '../../shared/errors.ts';

describe('parseAddress', () => {
  it('parses unix and tcp addresses', () => {
    expect(parseAddress('unix:///tmp/x.sock')).toEqual({ kind: 'unix', path: '/tmp/x.sock' });
    expect(parseAddress('tcp://127.0.0.1:7077')).toEqual({ kind: 'tcp', host: '127.0.0.1', port: 7077 });
    expect(parseAddress('tcp://[::1]:7077')).toEqual({ kind: 'tcp', host: '::1', port: 7077 });
  });

  it('refuses malformed ones', () => {
    expect(() => parseAddress('http://x:1')).toThrow(/use unix:\/\/\/path/);
    expect(() => parseAddress('tcp://host')).toThrow(/port/);
  });
});

describe('parseAddresses', () => {
  it('takes one address, a comma-separated list or an array, in order', () => {
    expect(parseAddresses('unix:///tmp/a.sock')).toEqual([{ kind: 'unix', path: '/tmp/a.sock' }]);
    expect(parseAddresses('unix:///tmp/a.sock, tcp://10.0.0.2:7077 ,tcp://[::1]:7078')).toEqual([
      { kind: 'unix', path: '/tmp/a.sock' },
      { kind: 'tcp', host: '10.0.0.2', port: 7077 },
      { kind: 'tcp', host: '::1', port: 7078 },
    ]);
    expect(parseAddresses(['tcp://b:2', 'tcp://a:1'])).toEqual([
      { kind: 'tcp', host: 'b', port: 2 },
      { kind: 'tcp', host: 'a', port: 1 },
    ]);
  });

  it('lists an engine named twice once', () => {
    expect(parseAddresses('tcp://a:1,tcp://a:1,unix:///s,/s')).toEqual([
      { kind: 'tcp', host: 'a', port: 1 },
      { kind: 'unix', path: '/s' },
    ]);
  });

  it('names the bad entry and says what to write instead', () => {
    expect(() => parseAddresses('')).toThrow(/the address is empty; separate engine addresses with single commas/);
    expect(() => parseAddresses([])).toThrow(/no engine address given/);
    expect(() => parseAddresses('tcp://a:1,,tcp://b:2')).toThrow(/address 2 of 3 in "tcp:\/\/a:1,,tcp:\/\/b:2" is empty/);
    expect(() => parseAddresses('tcp://a:1,')).toThrow(/address 2 of 2 .* is empty/);
    expect(() => parseAddresses('tcp://a:1,tcp://b')).toThrow(/address 2 of 2 in .*: invalid address "tcp:\/\/b": expected tcp:\/\/HOST:PORT/);
    expect(() => parseAddresses(['tcp://a:1', 'http://b:2'])).toThrow(/address 2 of 2 .*use unix:\/\/\/path/);
    expect(() => parseAddresses('http://b:2')).toThrow(/^invalid address "http:\/\/b:2"/);
    expect(() => parseAddresses('tcp://a:99999')).toThrow(CleaverError);
  });
});
