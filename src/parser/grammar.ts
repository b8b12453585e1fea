/**
 * The grammar of `.mn`, and nothing else: a Chevrotain CstParser with error
 * recovery, so that one run reports every syntax error in a file. It knows no
 * op names — a statement is `NAME args… [{ body }]` — and builds a concrete
 * syntax tree that `to-ast.ts` turns into the AST.
 *
 *   file       := (sep | network | block)*
 *   network    := 'network' NAME params? body
 *   block      := 'block' NAME params? body
 *   params     := '(' [param (',' param)*] ')'
 *   param      := NAME ['=' value]
 *   body       := '{' (sep | statement)* '}'
 *   statement  := [NAME '='] NAME (argument | ',')* body?
 *                 (`skip = pw 24` names the statement's tensor; a ',' is reported:
 *                 arguments are separated by spaces)
 *   argument   := NAME '=' value | value
 *   value      := SHAPE | expression
 *   expression := term (('+' | '-') term)*
 *   term       := unary (('*' | '/') unary)*
 *   unary      := '-' unary | '+' unary | primary
 *   primary    := NUMBER | NAME | '(' expression ')'
 *   sep        := NEWLINE | ';'
 */
import { CstParser, EOF, type IParserErrorMessageProvider, type TokenType, type IToken } from "chevrotain";
import * as T from "./tokens.js";

function describe(token: IToken): string {
  if (token.tokenType === EOF) return "the end of the file";
  if (token.tokenType === T.Newline) return "the end of the line";
  return `'${token.image}'`;
}

function label(type: TokenType): string {
  if (type === EOF) return "the end of the file";
  return type.LABEL ?? type.name;
}

function list(items: string[]): string {
  const unique = [...new Set(items)];
  if (unique.length <= 1) return unique[0] ?? "something else";
  return `${unique.slice(0, -1).join(", ")} or ${unique[unique.length - 1]}`;
}

/** Messages in mnc's words rather than Chevrotain's. */
const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, actual }) {
    if (expected === EOF) return `expected a 'network' or 'block' declaration but found ${describe(actual)}`;
    return `expected ${label(expected)} but found ${describe(actual)}`;
  },
  buildNotAllInputParsedMessage({ firstRedundant }) {
    return `expected a 'network' or 'block' declaration but found ${describe(firstRedundant)}`;
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, actual, previous }) {
    const starts = expectedPathsPerAlt.flatMap((paths) => paths.map((path) => (path[0] ? label(path[0]) : "")));
    const after = previous.tokenType === EOF || previous.image === "" ? "" : ` after '${previous.image}'`;
    // Where any value may come, say so rather than listing the tokens that start one.
    const wanted = starts.includes(T.NumberLiteral.LABEL!) ? "a value (a number, name, shape or expression)" : list(starts.filter((s) => s !== ""));
    return `expected ${wanted}${after} but found ${describe(actual[0]!)}`;
  },
  buildEarlyExitMessage({ expectedIterationPaths, actual }) {
    const starts = expectedIterationPaths.map((path) => (path[0] ? label(path[0]) : ""));
    return `expected ${list(starts.filter((s) => s !== ""))} but found ${describe(actual[0]!)}`;
  },
};

/**
 * Syntax errors after which the parser stops recovering inside repetitions:
 * Chevrotain nests one call per such recovery, so a flood of errors in one
 * body would exhaust the stack. parse.ts says that it stopped.
 */
export const MAX_SYNTAX_ERRORS = 100;

type RepetitionRecovery = (...args: unknown[]) => void;

class MnParser extends CstParser {
  constructor() {
    super(T.allTokens, { recoveryEnabled: true, nodeLocationTracking: "full", maxLookahead: 3, errorMessageProvider: messages });
    this.performSelfAnalysis();
    // Chevrotain installs its in-repetition recovery per instance; past the limit, the repetition just ends.
    // (`errors` returns a copy; the count is read from the list it copies, to stay linear.)
    const self = this as unknown as { attemptInRepetitionRecovery: RepetitionRecovery; _errors?: readonly unknown[] };
    const recover = self.attemptInRepetitionRecovery;
    self.attemptInRepetitionRecovery = (...args: unknown[]): void => {
      if ((self._errors ?? this.errors).length < MAX_SYNTAX_ERRORS) recover.apply(this, args);
      else this.stopped = true;
    };
  }

  /** Whether the last parse stopped recovering at MAX_SYNTAX_ERRORS (set by the parser, reset by parse.ts). */
  public stopped = false;

  public file = this.RULE("file", () => {
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.separator) },
        { ALT: () => this.SUBRULE(this.network) },
        { ALT: () => this.SUBRULE(this.block) },
      ]);
    });
  });

  private separator = this.RULE("separator", () => {
    this.OR([{ ALT: () => this.CONSUME(T.Newline) }, { ALT: () => this.CONSUME(T.Semicolon) }]);
  });

  private network = this.RULE("network", () => {
    this.CONSUME(T.Network);
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.params));
    this.MANY(() => this.CONSUME(T.Newline));
    this.SUBRULE(this.body);
  });

  private block = this.RULE("block", () => {
    this.CONSUME(T.Block);
    this.CONSUME(T.Identifier);
    this.OPTION(() => this.SUBRULE(this.params));
    this.MANY(() => this.CONSUME(T.Newline));
    this.SUBRULE(this.body);
  });

  private params = this.RULE("params", () => {
    this.CONSUME(T.LParen);
    this.MANY(() => this.CONSUME(T.Newline));
    this.OPTION(() => {
      this.SUBRULE(this.param);
      this.MANY1(() => this.CONSUME1(T.Newline));
      this.MANY2(() => {
        this.CONSUME(T.Comma);
        this.MANY3(() => this.CONSUME2(T.Newline));
        this.SUBRULE1(this.param);
        this.MANY4(() => this.CONSUME3(T.Newline));
      });
    });
    this.CONSUME(T.RParen);
  });

  private param = this.RULE("param", () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.Equals);
      this.SUBRULE(this.value);
    });
  });

  private body = this.RULE("body", () => {
    this.CONSUME(T.LBrace);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.separator) },
        { ALT: () => this.SUBRULE(this.statement) },
      ]);
    });
    this.CONSUME(T.RBrace);
  });

  private statement = this.RULE("statement", () => {
    this.OPTION1({
      GATE: () => this.LA(2).tokenType === T.Equals,
      DEF: () => {
        this.CONSUME1(T.Identifier, { LABEL: "binding" });
        this.CONSUME1(T.Equals);
      },
    });
    this.CONSUME(T.Identifier);
    // A ',' between arguments is accepted here so that parse.ts can say how to write it (MN1006).
    this.MANY(() => this.OR([{ ALT: () => this.SUBRULE(this.argument) }, { ALT: () => this.CONSUME(T.Comma) }]));
    this.OPTION(() => this.SUBRULE(this.body));
  });

  private argument = this.RULE("argument", () => {
    this.OR([
      {
        GATE: () => this.LA(2).tokenType === T.Equals,
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.CONSUME(T.Equals);
          this.SUBRULE(this.value);
        },
      },
      { ALT: () => this.SUBRULE1(this.value) },
    ]);
  });

  private value = this.RULE("value", () => {
    this.OR([{ ALT: () => this.CONSUME(T.Shape) }, { ALT: () => this.SUBRULE(this.expression) }]);
  });

  private expression = this.RULE("expression", () => {
    this.SUBRULE(this.term);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Plus) }, { ALT: () => this.CONSUME(T.Minus) }]);
      this.SUBRULE1(this.term);
    });
  });

  private term = this.RULE("term", () => {
    this.SUBRULE(this.unary);
    this.MANY(() => {
      this.OR([{ ALT: () => this.CONSUME(T.Star) }, { ALT: () => this.CONSUME(T.Slash) }]);
      this.SUBRULE1(this.unary);
    });
  });

  private unary = this.RULE("unary", () => {
    this.OR([
      {
        ALT: () => {
          this.OR1([{ ALT: () => this.CONSUME(T.Minus) }, { ALT: () => this.CONSUME(T.Plus) }]);
          this.SUBRULE(this.unary);
        },
      },
      { ALT: () => this.SUBRULE(this.primary) },
    ]);
  });

  private primary = this.RULE("primary", () => {
    this.OR([
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => this.CONSUME(T.Identifier) },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expression);
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });
}

/** One parser instance, reset per input (Chevrotain parsers are reusable). */
export const mnParser = new MnParser();
