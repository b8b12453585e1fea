/**
 * Source locations. A span travels from token to AST node to IR node, so that
 * every diagnostic — syntax, name, shape or weight — can point at the text
 * that caused it.
 */

/** A half-open range of the source text, with 1-based line/column of its ends. */
export interface Span {
  /** The file name as the user gave it (for messages only). */
  readonly file: string;
  /** Offset of the first character (0-based, UTF-16 code units). */
  readonly start: number;
  /** Offset one past the last character. */
  readonly end: number;
  /** 1-based line of `start`. */
  readonly line: number;
  /** 1-based column of `start`. */
  readonly column: number;
  /** 1-based line of the last character. */
  readonly endLine: number;
  /** 1-based column one past the last character on `endLine`. */
  readonly endColumn: number;
}

/** The smallest span covering both `a` and `b` (same file assumed). */
export function joinSpans(a: Span, b: Span): Span {
  const first = a.start <= b.start ? a : b;
  const last = a.end >= b.end ? a : b;
  return {
    file: a.file,
    start: first.start,
    end: last.end,
    line: first.line,
    column: first.column,
    endLine: last.endLine,
    endColumn: last.endColumn,
  };
}

/** Build a span from offsets, computing line/column by scanning `text`. */
export function spanAt(file: string, text: string, start: number, end: number): Span {
  const s = lineColumn(text, start);
  const e = lineColumn(text, Math.max(start, end));
  return { file, start, end: Math.max(start, end), line: s.line, column: s.column, endLine: e.line, endColumn: e.column };
}

/**
 * 1-based line and column of an offset. A line ends at "\r\n", a lone "\r" or
 * "\n" (as in the lexer), so a file saved with any of them, or a mix, is
 * counted as the user's editor shows it.
 */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  const limit = Math.min(offset, text.length);
  for (let i = 0; i < limit; i++) {
    const c = text.charCodeAt(i);
    // The "\r" of a "\r\n" belongs to the line it ends; the "\n" counts.
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** The text of a 1-based line, without its terminator ("\r\n", "\r" or "\n"); undefined past the end. */
export function lineText(text: string, line: number): string | undefined {
  let start = 0;
  for (let l = 1; l < line; l++) {
    const next = lineEnd(text, start);
    if (next >= text.length) return undefined;
    start = next + (text.charCodeAt(next) === 13 && text.charCodeAt(next + 1) === 10 ? 2 : 1);
  }
  return text.slice(start, lineEnd(text, start));
}

/** Offset of the first "\r" or "\n" at or after `from`, or the text's length. */
function lineEnd(text: string, from: number): number {
  for (let i = from; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return text.length;
}
