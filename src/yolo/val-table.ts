/**
 * The validator's console table, character for character as the reference prints it
 * (`DetectionValidator.get_desc` / `print_results`, `BaseValidator` speed line):
 *
 * ```
 *                  Class     Images  Instances      Box(P          R      mAP50  mAP50-95)
 *                    all        128        929      0.651      0.538      0.612      0.453
 *                 person         61        254      0.794      0.669      0.767      0.541
 * Speed: 0.2ms preprocess, 3.1ms inference, 0.0ms loss, 1.1ms postprocess per image
 * ```
 *
 * Number formatting follows Python's `%g` / `{:.1f}` exactly, including round-half-to-even on exact ties.
 */

import type { DetMetrics } from './metrics.js';

// ---------------------------------------------------------------------------------------------------------
// Python number formatting

/** Round |x| (finite, non-zero) to `p` significant digits, half to even on the exact binary value. */
function roundSig(x: number, p: number): { digits: string; exp: number } {
  const s = Math.abs(x).toExponential(99); // 100 significant digits: enough to tell exact ties
  const [mant, e] = s.split('e');
  const all = mant.replace('.', '');
  let exp = Number(e);
  const head = all.slice(0, p).split('').map(Number);
  const next = all.charCodeAt(p) - 48;
  const rest = all.slice(p + 1);
  const restNonZero = /[1-9]/.test(rest);
  const up = next > 5 || (next === 5 && (restNonZero || head[p - 1] % 2 === 1));
  if (up) {
    let i = p - 1;
    while (i >= 0) {
      if (head[i] === 9) {
        head[i] = 0;
        i--;
      } else {
        head[i]++;
        break;
      }
    }
    if (i < 0) {
      head.unshift(1);
      head.pop();
      exp++;
    }
  }
  return { digits: head.join(''), exp };
}

function pad(s: string, width: number): string {
  return s.length >= width ? s : ' '.repeat(width - s.length) + s;
}

function special(x: number): string | null {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  return null;
}

/** Python `'%{width}.{prec}g' % x`. */
export function pyFormatG(x: number, prec = 6, width = 0): string {
  const sp = special(x);
  if (sp !== null) return pad(sp, width);
  const p = prec === 0 ? 1 : prec;
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  if (x === 0) return pad(sign + '0', width);
  const { digits, exp } = roundSig(x, p);
  let body: string;
  if (exp >= -4 && exp < p) {
    let str: string;
    if (exp >= 0) {
      const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
      const frac = digits.slice(exp + 1);
      str = frac.length ? `${intPart}.${frac}` : intPart;
    } else {
      str = `0.${'0'.repeat(-exp - 1)}${digits}`;
    }
    if (str.includes('.')) str = str.replace(/0+$/, '').replace(/\.$/, '');
    body = str;
  } else {
    let m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    if (m.includes('.')) m = m.replace(/0+$/, '').replace(/\.$/, '');
    const ae = Math.abs(exp);
    body = `${m}e${exp < 0 ? '-' : '+'}${ae < 10 ? '0' : ''}${ae}`;
  }
  return pad(sign + body, width);
}

/** Python `'%{width}.{decimals}f' % x` / `'{:.{decimals}f}'.format(x)`. */
export function pyFormatF(x: number, decimals = 6, width = 0): string {
  const sp = special(x);
  if (sp !== null) return pad(sp, width);
  const sign = x < 0 || Object.is(x, -0) ? '-' : '';
  const ax = Math.abs(x);
  let out: string;
  if (ax === 0) out = decimals ? `0.${'0'.repeat(decimals)}` : '0';
  else {
    const e = Number(ax.toExponential(99).split('e')[1]);
    const p = e + 1 + decimals; // significant digits kept
    let digits: string, exp: number;
    if (p >= 1) ({ digits, exp } = roundSig(ax, p));
    else if (p === 0) {
      // only the rounding of the first digit decides between 0 and 10^-decimals
      const all = ax.toExponential(99).split('e')[0].replace('.', '');
      const up = Number(all[0]) > 5 || (all[0] === '5' && /[1-9]/.test(all.slice(1)));
      digits = up ? '1' : '0';
      exp = -decimals;
    } else {
      digits = '0';
      exp = -decimals;
    }
    // render digits * 10^(exp - len + 1) with `decimals` fraction digits
    const scale = exp - digits.length + 1; // power of ten of the last digit
    let intDigits: string;
    let frac: string;
    if (scale >= 0) {
      intDigits = digits + '0'.repeat(scale);
      frac = '';
    } else {
      const k = -scale;
      const padded = digits.padStart(k + 1, '0');
      intDigits = padded.slice(0, padded.length - k);
      frac = padded.slice(padded.length - k);
    }
    frac = frac.padEnd(decimals, '0').slice(0, decimals);
    intDigits = intDigits.replace(/^0+(?=\d)/, '');
    out = decimals ? `${intDigits}.${frac}` : intDigits;
  }
  return pad(sign + out, width);
}

// ---------------------------------------------------------------------------------------------------------
// Table

/** `("%22s" + "%11s" * 6) % ("Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)")`. */
export function valHeader(): string {
  return pad('Class', 22) + ['Images', 'Instances', 'Box(P', 'R', 'mAP50', 'mAP50-95)'].map((s) => pad(s, 11)).join('');
}

/** One row: `"%22s" + "%11i" * 2 + "%11.3g" * 4`. */
export function valRow(name: string, images: number, instances: number, p: number, r: number, map50: number, map: number): string {
  const int = (v: number) => pad(String(Math.trunc(v)), 11);
  return pad(name, 22) + int(images) + int(instances) + [p, r, map50, map].map((v) => pyFormatG(v, 3, 11)).join('');
}

/**
 * `print_results`: the `all` row, then (when `verbose` and more than one class) one row per class present in
 * the targets. A warning line is added when there are no labels, as the reference logs.
 */
export function formatValTable(m: DetMetrics, opts: { verbose?: boolean; header?: boolean } = {}): string[] {
  const lines: string[] = [];
  if (opts.header) lines.push(valHeader());
  let total = 0;
  for (let i = 0; i < m.ntPerClass.length; i++) total += m.ntPerClass[i];
  lines.push(valRow('all', m.seen, total, ...m.meanResults()));
  if (total === 0) lines.push('WARNING ⚠️ no labels found in detect set, can not compute metrics without labels');
  if ((opts.verbose ?? true) && m.nc > 1 && m.apClassIndex.length) {
    m.apClassIndex.forEach((c, i) => {
      lines.push(valRow(m.names[c] ?? String(c), m.ntPerImage[c], m.ntPerClass[c], ...m.classResult(i)));
    });
  }
  return lines;
}

export interface ValSpeed {
  preprocess: number;
  inference: number;
  loss: number;
  postprocess: number;
}

/** `Speed: {:.1f}ms preprocess, {:.1f}ms inference, {:.1f}ms loss, {:.1f}ms postprocess per image`. */
export function formatSpeedLine(speed: ValSpeed): string {
  const f = (v: number) => pyFormatF(v, 1);
  return `Speed: ${f(speed.preprocess)}ms preprocess, ${f(speed.inference)}ms inference, ${f(speed.loss)}ms loss, ${f(speed.postprocess)}ms postprocess per image`;
}
