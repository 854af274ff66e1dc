/** Python's int(), float(), str() and bool() on JSON values, as ComfyUI's validation applies them to inputs. */
import { PyError, pyRepr, pyStr } from './py-format.js';

const INT_TEXT = /^[+-]?\d+(_\d+)*$/;
const FLOAT_TEXT = /^[+-]?((\d+(_\d+)*)?\.?\d+(_\d+)*([eE][+-]?\d+)?|\d+(_\d+)*\.|inf(inity)?|nan)$/i;

function typeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  return Array.isArray(v) ? 'list' : 'dict';
}

function pyInt(v: unknown): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') {
    if (!Number.isFinite(v))
      throw new PyError(
        'OverflowError',
        `cannot convert float ${Number.isNaN(v) ? 'NaN' : 'infinity'} to integer`,
      );
    return Math.trunc(v);
  }
  if (typeof v === 'string') {
    const t = v.trim();
    if (INT_TEXT.test(t)) return Number.parseInt(t.replaceAll('_', ''), 10);
    throw new PyError('ValueError', `invalid literal for int() with base 10: ${pyRepr(v)}`);
  }
  throw new PyError(
    'TypeError',
    `int() argument must be a string, a bytes-like object or a real number, not '${typeName(v)}'`,
  );
}

function pyFloatOf(v: unknown): number {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    const t = v.trim();
    if (!FLOAT_TEXT.test(t))
      throw new PyError('ValueError', `could not convert string to float: ${pyRepr(v)}`);
    const lower = t.toLowerCase().replaceAll('_', '');
    if (lower.endsWith('nan')) return Number.NaN;
    if (lower.includes('inf')) return lower.startsWith('-') ? -Infinity : Infinity;
    return Number.parseFloat(lower);
  }
  throw new PyError('TypeError', `float() argument must be a string or a real number, not '${typeName(v)}'`);
}

function pyBool(v: unknown): boolean {
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object' && v !== null) return Object.keys(v).length > 0;
  return Boolean(v);
}

/** Converts a literal input for its declared type (INT, FLOAT, STRING, BOOLEAN); other types pass unchanged. */
export function convertInput(type: unknown, v: unknown): unknown {
  if (type === 'INT') return pyInt(v);
  if (type === 'FLOAT') return pyFloatOf(v);
  if (type === 'STRING') return pyStr(v);
  if (type === 'BOOLEAN') return pyBool(v);
  return v;
}
