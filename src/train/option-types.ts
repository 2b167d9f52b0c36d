/**
 * Typed option values as the reference's configuration reads them: command-line text is first
 * turned into a plain value (`smart_value`: True/False, None, numbers, [lists], else a string),
 * then checked by the option's type (`check_cfg`). Values read back from a saved run (JSON)
 * go through the same `check`, so both paths accept exactly the same values.
 */

export type PlainValue = boolean | number | string | null | PlainValue[];

/** Command-line text as a plain value: `True`/`False`, `None`, numbers, `[a, b]` lists, else the text. */
export function smartValue(text: string): PlainValue {
  const t = text.trim();
  const lower = t.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (lower === 'none' || lower === 'null') return null;
  if (t !== '' && /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return Number(t);
  if (t.startsWith('[') && t.endsWith(']')) {
    const inner = t.slice(1, -1).trim();
    return inner === '' ? [] : inner.split(',').map((s) => smartValue(s.trim().replace(/^(['"])(.*)\1$/, '$2')));
  }
  return text;
}

export interface OptionType<T> {
  /** The allowed values, as an error message completes "must be ...". */
  readonly allowed: string;
  /** `--key` alone (no value) means this. */
  readonly flagValue?: T;
  /** The value, or undefined when it is not allowed. */
  check(value: unknown): T | undefined;
  /** Command-line text to a value (default: smartValue, then check). */
  parse?(text: string): T | undefined;
}

export function parseText<T>(type: OptionType<T>, text: string): T | undefined {
  return type.parse ? type.parse(text) : type.check(smartValue(text));
}

interface Range {
  min?: number;
  max?: number;
}

function rangeText({ min, max }: Range): string {
  if (min !== undefined && max !== undefined) return ` between ${min} and ${max}`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}

const inRange = (n: number, { min = -Infinity, max = Infinity }: Range) => n >= min && n <= max;

export function int(range: Range = {}): OptionType<number> {
  return {
    allowed: `an integer${rangeText(range)}`,
    check: (v) => (typeof v === 'number' && Number.isSafeInteger(v) && inRange(v, range) ? v : undefined),
  };
}

export function float(range: Range = {}): OptionType<number> {
  return {
    allowed: `a number${rangeText(range)}`,
    check: (v) => (typeof v === 'number' && Number.isFinite(v) && inRange(v, range) ? v : undefined),
  };
}

/** A number in [0, 1] (the reference's CFG_FRACTION_KEYS). */
export const fraction: OptionType<number> = float({ min: 0, max: 1 });

export const bool: OptionType<boolean> = {
  allowed: 'True or False',
  flagValue: true,
  check: (v) => (typeof v === 'boolean' ? v : undefined),
};

/** Any text, taken verbatim from the command line. */
export const text: OptionType<string> = {
  allowed: 'a text value',
  check: (v) => (typeof v === 'string' && v !== '' ? v : undefined),
  parse: (t) => (t !== '' ? t : undefined),
};

/** One of fixed names, matched case-insensitively and returned as spelled here. */
export function choice<const C extends string>(values: readonly C[]): OptionType<C> {
  return {
    allowed: `one of ${values.join(', ')}`,
    check: (v) => (typeof v === 'string' ? values.find((c) => c.toLowerCase() === v.toLowerCase()) : undefined),
    parse: (t) => values.find((c) => c.toLowerCase() === t.trim().toLowerCase()),
  };
}

/** `None` (null) or a value of `type`. */
export function nullable<T>(type: OptionType<T>): OptionType<T | null> {
  return {
    allowed: `None or ${type.allowed}`,
    flagValue: type.flagValue,
    check: (v) => (v === null ? null : type.check(v)),
    parse: (t) => (smartValue(t) === null ? null : parseText(type, t)),
  };
}
