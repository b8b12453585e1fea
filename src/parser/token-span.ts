import type { IToken } from "chevrotain";
import type { Span } from "../ir/span.js";

/** The span from the start of token `from` to the end of token `to`. */
export function tokenSpan(file: string, from: IToken, to: IToken = from): Span {
  return {
    file,
    start: from.startOffset,
    end: (to.endOffset ?? to.startOffset) + 1,
    line: from.startLine ?? 1,
    column: from.startColumn ?? 1,
    endLine: to.endLine ?? from.startLine ?? 1,
    endColumn: (to.endColumn ?? from.startColumn ?? 0) + 1,
  };
}
