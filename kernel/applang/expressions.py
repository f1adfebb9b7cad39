"""The expression grammar: a small, safe language for formulas, conditions and formatting.

Why its own grammar: expressions come from a model, and they end up in app code. Parsing them into a
tree (and later type-checking and compiling that tree node by node) means no character of model text
ever reaches the app except inside a JSON-escaped string literal.

    expr    := cond
    cond    := 'if' expr 'then' expr 'else' expr | or ('?' expr ':' expr)?
    or      := and (('or' | '||') and)*
    and     := not (('and' | '&&') not)*
    not     := ('not' | '!') not | compare
    compare := sum (('==' | '=' | '!=' | '<' | '<=' | '>' | '>=') sum)?
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/' | '%') unary)*
    unary   := '-' unary | power
    power   := postfix (('**' | '^') unary)?
    postfix := atom ('.' NAME | '[' expr ']')*
    atom    := NUMBER | STRING | 'true' | 'false' | NAME | NAME '(' args ')' | '(' expr ')' | '[' args ']'

Strings use single quotes ('Tip: '), so they need no escaping inside a JSON document; double quotes
work too. Columns in errors are 1-based.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LENGTH = 240
MAX_DEPTH = 24


class ExprSyntaxError(ValueError):
    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"at column {column}: {message}")
        self.message = message
        self.column = column


# ---- the tree -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Expr:
    col: int


@dataclass(frozen=True)
class Num(Expr):
    value: float


@dataclass(frozen=True)
class Str(Expr):
    value: str


@dataclass(frozen=True)
class Bool(Expr):
    value: bool


@dataclass(frozen=True)
class Name(Expr):
    name: str


@dataclass(frozen=True)
class ListLit(Expr):
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Unary(Expr):
    op: str  # '-' or 'not'
    operand: Expr


@dataclass(frozen=True)
class Binary(Expr):
    op: str  # + - * / % ** == != < <= > >= and or
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Cond(Expr):
    test: Expr
    then: Expr
    other: Expr


@dataclass(frozen=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Attr(Expr):
    obj: Expr
    name: str


@dataclass(frozen=True)
class Subscript(Expr):
    obj: Expr
    index: Expr


# ---- tokens ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Token:
    kind: str  # num, str, name, op, end
    text: str
    col: int
    value: object = None


_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|==|!=|<=|>=|<>|&&|\|\||[-+*/%^<>=!?:()\[\],.])
""", re.VERBOSE)
KEYWORDS = frozenset({"and", "or", "not", "if", "then", "else", "true", "false"})
_ALIASES = {"&&": "and", "||": "or", "!": "not", "=": "==", "<>": "!=", "^": "**"}


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch in "'\"":
            tokens.append(_string(text, pos))
            pos += len(tokens[-1].text)
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ExprSyntaxError(f"unexpected character {ch!r}", pos + 1)
        kind = match.lastgroup or "space"
        word = match.group(0)
        if kind == "num":
            tokens.append(Token("num", word, pos + 1, float(word)))
        elif kind == "name":
            tokens.append(Token("op" if word in KEYWORDS else "name", word, pos + 1))
        elif kind == "op":
            tokens.append(Token("op", _ALIASES.get(word, word), pos + 1))
        pos = match.end()
    tokens.append(Token("end", "", len(text) + 1))
    return tokens


def _string(text: str, start: int) -> Token:
    quote = text[start]
    out: list[str] = []
    pos = start + 1
    while pos < len(text):
        ch = text[pos]
        if ch == "\\" and pos + 1 < len(text):
            nxt = text[pos + 1]
            out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
            pos += 2
            continue
        if ch == quote:
            return Token("str", text[start:pos + 1], start + 1, "".join(out))
        out.append(ch)
        pos += 1
    raise ExprSyntaxError("this string is never closed (add the closing quote)", start + 1)


# ---- parser ---------------------------------------------------------------------------------------
_COMPARE = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _ExprParser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def at(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.text in ops

    def expect(self, op: str, why: str = "") -> Token:
        if not self.at(op):
            raise ExprSyntaxError(f"expected {op!r}{why} but found {_show(self.tok)}", self.tok.col)
        return self.advance()

    def expr(self) -> Expr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExprSyntaxError("expression is nested too deeply", self.tok.col)
        try:
            return self.cond()
        finally:
            self.depth -= 1

    def cond(self) -> Expr:
        if self.at("if"):
            start = self.advance()
            test = self.expr()
            self.expect("then", " after the condition")
            then = self.expr()
            self.expect("else", " (an 'if' needs 'then' and 'else')")
            return Cond(start.col, test, then, self.expr())
        test = self.or_()
        if self.at("?"):
            start = self.advance()
            then = self.expr()
            self.expect(":", " after the '?' branch")
            return Cond(start.col, test, then, self.expr())
        return test

    def or_(self) -> Expr:
        left = self.and_()
        while self.at("or"):
            op = self.advance()
            left = Binary(op.col, "or", left, self.and_())
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.at("and"):
            op = self.advance()
            left = Binary(op.col, "and", left, self.not_())
        return left

    def not_(self) -> Expr:
        if self.at("not"):
            op = self.advance()
            return Unary(op.col, "not", self.not_())
        return self.compare()

    def compare(self) -> Expr:
        left = self.sum()
        if self.tok.kind == "op" and self.tok.text in _COMPARE:
            op = self.advance()
            left = Binary(op.col, op.text, left, self.sum())
            if self.tok.kind == "op" and self.tok.text in _COMPARE:
                raise ExprSyntaxError("comparisons cannot be chained; join them with 'and'", self.tok.col)
        return left

    def sum(self) -> Expr:
        left = self.product()
        while self.at("+", "-"):
            op = self.advance()
            left = Binary(op.col, op.text, left, self.product())
        return left

    def product(self) -> Expr:
        left = self.unary()
        while self.at("*", "/", "%"):
            op = self.advance()
            left = Binary(op.col, op.text, left, self.unary())
        return left

    def unary(self) -> Expr:
        if self.at("-"):
            op = self.advance()
            return Unary(op.col, "-", self.unary())
        if self.at("+"):
            self.advance()
            return self.unary()
        return self.power()

    def power(self) -> Expr:
        base = self.postfix()
        if self.at("**"):
            op = self.advance()
            return Binary(op.col, "**", base, self.unary())
        return base

    def postfix(self) -> Expr:
        node = self.atom()
        while True:
            if self.at("."):
                dot = self.advance()
                if self.tok.kind != "name":
                    raise ExprSyntaxError(f"expected a field name after '.' but found {_show(self.tok)}",
                                          self.tok.col)
                node = Attr(dot.col, node, self.advance().text)
            elif self.at("["):
                bracket = self.advance()
                index = self.expr()
                self.expect("]", " to close the index")
                node = Subscript(bracket.col, node, index)
            else:
                return node

    def args(self, close: str) -> tuple[Expr, ...]:
        items: list[Expr] = []
        if self.at(close):
            self.advance()
            return ()
        while True:
            items.append(self.expr())
            if self.at(","):
                self.advance()
                continue
            self.expect(close, f" or ',' in the {'list' if close == ']' else 'arguments'}")
            return tuple(items)

    def atom(self) -> Expr:
        tok = self.tok
        if tok.kind == "num":
            self.advance()
            return Num(tok.col, float(tok.value))  # type: ignore[arg-type]
        if tok.kind == "str":
            self.advance()
            return Str(tok.col, str(tok.value))
        if tok.kind == "name":
            self.advance()
            if self.at("("):
                self.advance()
                return Call(tok.col, tok.text, self.args(")"))
            return Name(tok.col, tok.text)
        if self.at("true", "false"):
            self.advance()
            return Bool(tok.col, tok.text == "true")
        if self.at("("):
            self.advance()
            inner = self.expr()
            self.expect(")", " to close '('")
            return inner
        if self.at("["):
            self.advance()
            return ListLit(tok.col, self.args("]"))
        if tok.kind == "end":
            raise ExprSyntaxError("the expression ends too early", tok.col)
        raise ExprSyntaxError(f"unexpected {_show(tok)}", tok.col)


def _show(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text)


def parse_expression(text: str) -> Expr:
    """Parse one expression; raises ExprSyntaxError with a 1-based column."""
    if not isinstance(text, str):
        raise ExprSyntaxError(f"an expression is a string, got {type(text).__name__}", 0)
    if not text.strip():
        raise ExprSyntaxError("the expression is empty", 1)
    if len(text) > MAX_LENGTH:
        raise ExprSyntaxError(f"the expression is longer than {MAX_LENGTH} characters", MAX_LENGTH)
    parser = _ExprParser(tokenize(text))
    node = parser.expr()
    if parser.tok.kind != "end":
        raise ExprSyntaxError(f"unexpected {_show(parser.tok)} after a complete expression "
                              "(a missing operator?)", parser.tok.col)
    return node


def children(node: Expr) -> tuple[Expr, ...]:
    """The direct sub-expressions of a node."""
    if isinstance(node, Call):
        return node.args
    if isinstance(node, ListLit):
        return node.items
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Binary):
        return (node.left, node.right)
    if isinstance(node, Cond):
        return (node.test, node.then, node.other)
    if isinstance(node, Attr):
        return (node.obj,)
    if isinstance(node, Subscript):
        return (node.obj, node.index)
    return ()


def walk(node: Expr) -> list[Expr]:
    """The node and all its sub-expressions, parents first."""
    out, stack = [], [node]
    while stack:
        item = stack.pop()
        out.append(item)
        stack.extend(reversed(children(item)))
    return out


def names_in(node: Expr) -> set[str]:
    """Every bare name an expression reads (not function names or field names)."""
    return {item.name for item in walk(node) if isinstance(item, Name)}


def calls_in(node: Expr) -> set[str]:
    """Every function name an expression calls."""
    return {item.name for item in walk(node) if isinstance(item, Call)}
