/** What verification found wrong with one image or label file. */

export type ProblemKind =
  // images
  | 'zero-byte'
  | 'not-an-image'
  | 'unsupported-format'
  | 'unreadable'
  | 'truncated'
  | 'too-small'
  | 'no-end-marker'
  | 'size-mismatch'
  // labels
  | 'label-unreadable'
  | 'columns'
  | 'non-numeric'
  | 'out-of-range'
  | 'class-id'
  | 'zero-size'
  | 'duplicate'
  | 'missing-label'
  | 'empty-label';

/**
 * `error`: the image (with its labels) is skipped. `warning`: kept, possibly fixed (a row dropped).
 * `info`: kept as is (background images without labels).
 */
export type Severity = 'error' | 'warning' | 'info';

export interface Problem {
  /** The file the problem is in (image or label file, absolute). */
  file: string;
  /** 1-based line of the label file, where one applies. */
  line?: number;
  /** Annotation id, for problems in COCO JSON annotations. */
  annotation?: number;
  kind: ProblemKind;
  severity: Severity;
  message: string;
}

/** `file:line: message` as printed by `dataset check`. */
export function formatProblem(p: Problem, relativeTo?: (f: string) => string): string {
  const file = relativeTo ? relativeTo(p.file) : p.file;
  const where = p.line !== undefined ? `:${p.line}` : p.annotation !== undefined ? ` (annotation ${p.annotation})` : '';
  return `${file}${where}: ${p.message}`;
}
