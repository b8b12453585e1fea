/**
 * The tokens of `.mn`. Op names are not keywords: only the two declarations,
 * `network` and `block`, are. A layer is `NAME args…`, resolved by the builder.
 */
import { createToken, Lexer, type TokenType } from "chevrotain";

export const WhiteSpace = createToken({ name: "WhiteSpace", pattern: /[ \t\f\v\u00a0\ufeff]+/, group: Lexer.SKIPPED });
export const Comment = createToken({ name: "Comment", pattern: /#[^\r\n]*/, group: Lexer.SKIPPED });
export const Newline = createToken({ name: "Newline", pattern: /\r\n|\r|\n/, line_breaks: true, label: "end of line" });
export const Semicolon = createToken({ name: "Semicolon", pattern: /;/, label: "';'" });
export const LBrace = createToken({ name: "LBrace", pattern: /\{/, label: "'{'" });
export const RBrace = createToken({ name: "RBrace", pattern: /\}/, label: "'}'" });
export const LParen = createToken({ name: "LParen", pattern: /\(/, label: "'('" });
export const RParen = createToken({ name: "RParen", pattern: /\)/, label: "')'" });
export const Comma = createToken({ name: "Comma", pattern: /,/, label: "','" });
export const Equals = createToken({ name: "Equals", pattern: /=/, label: "'='" });
export const Plus = createToken({ name: "Plus", pattern: /\+/, label: "'+'" });
export const Minus = createToken({ name: "Minus", pattern: /-/, label: "'-'" });
export const Star = createToken({ name: "Star", pattern: /\*/, label: "'*'" });
export const Slash = createToken({ name: "Slash", pattern: /\//, label: "'/'" });
/** `224x224x3`, `3x3`: digits joined by `x`, no spaces. Must precede Number. */
export const Shape = createToken({ name: "Shape", pattern: /\d+(?:x\d+)+(?![A-Za-z0-9_.])/, label: "a shape (like 3x3)" });
export const NumberLiteral = createToken({
  name: "NumberLiteral",
  pattern: /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?(?![A-Za-z0-9_.])/,
  label: "a number",
});
/** A number glued to letters (`12ab`, `3x3x`, `1.2.3`): reported, never parsed. */
export const MalformedNumber = createToken({ name: "MalformedNumber", pattern: /[0-9.][A-Za-z0-9_.]*/, group: "malformed" });
export const Identifier = createToken({ name: "Identifier", pattern: /[A-Za-z_][A-Za-z0-9_]*/, label: "a name" });
export const Network = createToken({ name: "Network", pattern: /network/, longer_alt: Identifier, label: "'network'" });
export const Block = createToken({ name: "Block", pattern: /block/, longer_alt: Identifier, label: "'block'" });

export const allTokens: TokenType[] = [
  WhiteSpace,
  Comment,
  Newline,
  Semicolon,
  LBrace,
  RBrace,
  LParen,
  RParen,
  Comma,
  Equals,
  Plus,
  Minus,
  Star,
  Slash,
  Shape,
  NumberLiteral,
  MalformedNumber,
  Network,
  Block,
  Identifier,
];

export const mnLexer = new Lexer(allTokens, { positionTracking: "full", ensureOptimizations: false });
