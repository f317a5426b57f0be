"""A small model of Asterisk's dialplan: contexts, extension patterns, priorities, labels,
``${...}`` substitution with the functions payivr's dialplan uses, and ``$[...]`` expressions.

It reads ``extensions.conf`` syntax (``[context]``, ``exten =>``, ``same =>``, ``n``,
``(label)``, ``include =>``) so tests can run the project's real ``dialplan/`` files, and the
simulator's defaults are written in the same syntax. Applications themselves run in
:mod:`.applications`, stepped through by :mod:`.pbx`; this module only finds and expands steps.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from payivr.core.errors import PayivrError

DEFAULT_DIALPLAN = """
; What the simulator knows without being told: the takeover targets of payivr's AMI Redirect,
; the *7 feature Gosub, and a context simulated phones dial from (sim.dial()).
[payivr-takeover]
exten => caller,1,Stasis(payivr,takeover,caller${IF($["${PAYIVR_KEY}" = ""]?:,${PAYIVR_KEY})})
 same => n,Wait(3600)
exten => agent,1,Stasis(payivr,takeover,agent${IF($["${PAYIVR_KEY}" = ""]?:,${PAYIVR_KEY})})
 same => n,Wait(3600)

[payivr-feature]
exten => s,1,UserEvent(PayIVRRequest,Agent: ${CHANNEL},Peer: ${BRIDGEPEER})
 same => n,Return()

[sim-phones]
exten => _X.,1,Dial(${DIAL_ENDPOINT},30,b(sim-agent-features^s^1))
 same => n,Hangup()

[sim-agent-features]
exten => s,1,Set(DYNAMIC_FEATURES=${SIM_AGENT_FEATURES})
 same => n,Return()
"""

DEFAULT_FEATURES = {"payivr": ("*7", "payivr-feature", "s", 1)}


@dataclass(frozen=True)
class DialplanStep:
    """One priority: an application and its (unexpanded) argument string."""

    priority: int
    label: str | None
    app: str
    data: str


@dataclass
class Extension:
    pattern: str
    steps: dict[int, DialplanStep] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)


@dataclass
class Context:
    name: str
    extensions: list[Extension] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)

    def extension(self, pattern: str) -> Extension:
        for extension in self.extensions:
            if extension.pattern == pattern:
                return extension
        extension = Extension(pattern)
        self.extensions.append(extension)
        return extension


class DialplanError(PayivrError):
    """The dialplan text given to the simulator does not parse (we broke it)."""


class Dialplan:
    """Contexts by name, plus the ``applicationmap`` of dynamic features."""

    def __init__(self) -> None:
        self.contexts: dict[str, Context] = {}
        # feature name -> (digits, context, exten, priority) of its Gosub
        self.features: dict[str, tuple[str, str, str, int]] = {}
        # [featuremap] of features.conf: built-in feature -> its code (blindxfer = #1)
        self.featuremap: dict[str, str] = {}
        # [globals] of an extensions.conf: NAME=value, read by ${NAME} on every channel
        self.global_variables: dict[str, str] = {}

    @classmethod
    def default(cls) -> Dialplan:
        dialplan = cls()
        dialplan.load(DEFAULT_DIALPLAN)
        dialplan.features.update(DEFAULT_FEATURES)
        return dialplan

    def load(self, text: str) -> None:
        """Add the contexts of an ``extensions.conf``-style text (later lines win)."""
        context: Context | None = None
        current: Extension | None = None
        last_priority = 0
        for number, raw_line in enumerate(text.splitlines(), start=1):
            line = _strip_comment(raw_line).strip()
            if not line:
                continue
            if line.startswith("[") and "]" in line:
                name = line[1 : line.index("]")]
                context = self.contexts.setdefault(name, Context(name))
                current = None
                continue
            if context is None:
                continue
            if context.name == "globals":
                name, equals, value = line.partition("=")
                if equals and name.strip():
                    self.global_variables[name.strip()] = value.strip()
                continue
            key, _, value = line.partition("=>")
            key = key.strip().lower()
            value = value.strip()
            if key == "include":
                context.includes.append(value)
                continue
            if key not in ("exten", "same"):
                continue
            if key == "exten":
                pattern, _, rest = value.partition(",")
                current = context.extension(pattern.strip())
                if rest.strip().startswith("1,"):  # a new definition replaces an older one
                    current.steps.clear()
                    current.labels.clear()
            elif current is None:
                raise DialplanError(f"line {number}: 'same' without an 'exten'")
            else:
                rest = value
            priority_text, _, application = rest.partition(",")
            priority_text = priority_text.strip()
            label = None
            match = re.fullmatch(r"([^()]+)\(([^()]*)\)", priority_text)
            if match:
                priority_text, label = match.group(1), match.group(2)
            if priority_text == "n":
                priority = last_priority + 1
            elif priority_text.isdigit():
                priority = int(priority_text)
            else:
                raise DialplanError(f"line {number}: bad priority {priority_text!r}")
            app, data = split_application(application.strip())
            current.steps[priority] = DialplanStep(priority, label, app, data)
            if label:
                current.labels[label] = priority
            last_priority = priority

    def load_features(self, text: str) -> None:
        """A ``features.conf``: ``[applicationmap]`` (``name => digits,self,Gosub(c,e,p)``)
        and ``[featuremap]`` (``blindxfer = #1``)."""
        section = ""
        for raw_line in text.splitlines():
            line = _strip_comment(raw_line).strip()
            if line.startswith("["):
                section = line.lower()
                continue
            if section == "[featuremap]" and "=" in line:
                name, _, code = line.partition("=")
                self.featuremap[name.strip().lstrip(">").strip()] = code.strip().lstrip(">")
                continue
            if section != "[applicationmap]" or "=>" not in line:
                continue
            name, _, value = line.partition("=>")
            parts = split_arguments(value.strip())
            if len(parts) < 3:
                raise DialplanError(f"bad applicationmap entry: {line}")
            app, data = split_application(parts[2].strip())
            if app.lower() != "gosub":
                raise DialplanError(f"only Gosub features are simulated: {line}")
            context, exten, priority = split_arguments(data)
            self.features[name.strip()] = (parts[0].strip(), context, exten, int(priority))

    def add(self, context: str, exten: str, *applications: str) -> None:
        """Add priorities 1..n of ``exten`` in ``context``, e.g. ``add("c", "s", "Answer()")``."""
        extension = self.contexts.setdefault(context, Context(context)).extension(exten)
        extension.steps.clear()
        extension.labels.clear()
        for priority, application in enumerate(applications, start=1):
            app, data = split_application(application)
            extension.steps[priority] = DialplanStep(priority, None, app, data)

    def find_extension(self, context: str, exten: str, _seen: frozenset[str] = frozenset()
                       ) -> Extension | None:
        """The extension ``exten`` matches in ``context`` (exact first, then patterns)."""
        found = self.contexts.get(context)
        if found is None or context in _seen:
            return None
        for extension in found.extensions:
            if extension.pattern == exten:
                return extension
        best: tuple[int, Extension] | None = None
        for extension in found.extensions:
            if extension.pattern.startswith("_") and pattern_matches(extension.pattern, exten):
                weight = _pattern_weight(extension.pattern)
                if best is None or weight > best[0]:
                    best = (weight, extension)
        if best is not None:
            return best[1]
        for included in found.includes:
            nested = self.find_extension(included, exten, _seen | {context})
            if nested is not None:
                return nested
        return None

    def matches_more(self, context: str, prefix: str, _seen: frozenset[str] = frozenset()
                     ) -> bool:
        """``ast_matchmore_extension``: could a longer number starting with ``prefix`` match?
        (Patterns are tried with up to 20 more keys of each digit: enough for phone numbers.)"""
        found = self.contexts.get(context)
        if found is None or context in _seen:
            return False
        for extension in found.extensions:
            pattern = extension.pattern
            if not pattern.startswith("_"):
                if len(pattern) > len(prefix) and pattern.startswith(prefix):
                    return True
            elif any(pattern_matches(pattern, prefix + digit * count)
                     for digit in "0123456789" for count in range(1, 21)):
                return True
        return any(self.matches_more(included, prefix, _seen | {context})
                   for included in found.includes)

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        extension = self.find_extension(context, exten)
        return extension is not None and priority in extension.steps

    def find_label(self, context: str, exten: str, label: str) -> int | None:
        extension = self.find_extension(context, exten)
        if extension is None:
            return None
        return extension.labels.get(label)


def _strip_comment(line: str) -> str:
    out = []
    escaped = False
    for char in line:
        if char == ";" and not escaped:
            break
        escaped = char == "\\" and not escaped
        out.append(char)
    return "".join(out)


def split_application(text: str) -> tuple[str, str]:
    """``"Dial(PJSIP/1,30)"`` -> ``("Dial", "PJSIP/1,30")``; ``"Answer"`` -> ``("Answer", "")``."""
    if "(" not in text:
        return text.strip(), ""
    name, _, rest = text.partition("(")
    if rest.endswith(")"):
        rest = rest[:-1]
    return name.strip(), rest


def _pattern_weight(pattern: str) -> int:
    # Asterisk sorts more specific patterns first; literal characters weigh most.
    return sum(3 if c not in "XZN.![]" else 1 for c in pattern[1:])


def pattern_matches(pattern: str, exten: str) -> bool:
    """Asterisk extension pattern matching (``_X.``, ``_NXX``, ``_[1-5]!``, literals)."""
    regex = []
    body = pattern[1:]
    index = 0
    while index < len(body):
        char = body[index]
        if char == "X":
            regex.append("[0-9]")
        elif char == "Z":
            regex.append("[1-9]")
        elif char == "N":
            regex.append("[2-9]")
        elif char == ".":
            regex.append(".+")
        elif char == "!":
            regex.append(".*")
        elif char == "[":
            end = body.index("]", index)
            regex.append("[" + re.escape(body[index + 1 : end]).replace("\\-", "-") + "]")
            index = end
        else:
            regex.append(re.escape(char))
        index += 1
    return re.fullmatch("".join(regex), exten) is not None


def split_arguments(data: str) -> list[str]:
    """Split application data on commas, as ``ast_app_separate_args`` does (quotes, parens)."""
    args: list[str] = []
    current: list[str] = []
    depth = 0
    quoted = False
    for char in data:
        if char == '"':
            quoted = not quoted
            continue
        if not quoted:
            if char in "([":
                depth += 1
            elif char in ")]" and depth:
                depth -= 1
            elif char == "," and depth == 0:
                args.append("".join(current))
                current = []
                continue
        current.append(char)
    args.append("".join(current))
    return args


VariableLookup = Callable[[str], str | None]
FunctionCall = Callable[[str, str], str | None]


def expand(text: str, lookup: VariableLookup, function: FunctionCall) -> str:
    """Substitute ``${VAR}``, ``${VAR:offset:length}``, ``${FUNC(args)}`` and ``$[expr]``."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("${", index) or text.startswith("$[", index):
            opener = text[index + 1]
            closer = "}" if opener == "{" else "]"
            end = _matching(text, index + 1, opener, closer)
            inner = expand(text[index + 2 : end], lookup, function)
            if opener == "{":
                out.append(_variable(inner, lookup, function))
            else:
                out.append(evaluate_expression(inner))
            index = end + 1
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _matching(text: str, start: int, opener: str, closer: str) -> int:
    depth = 0
    for index in range(start, len(text)):
        if text[index] == opener:
            depth += 1
        elif text[index] == closer:
            depth -= 1
            if depth == 0:
                return index
    raise DialplanError(f"unbalanced {opener}{closer} in {text!r}")


def _variable(inner: str, lookup: VariableLookup, function: FunctionCall) -> str:
    match = re.fullmatch(r"([A-Za-z0-9_]+)\((.*)\)", inner, flags=re.DOTALL)
    if match:
        return function(match.group(1).upper(), match.group(2)) or ""
    name, *slice_parts = inner.split(":")
    value = lookup(name) or ""
    if slice_parts:
        offset = int(slice_parts[0] or 0)
        length = int(slice_parts[1]) if len(slice_parts) > 1 and slice_parts[1] else None
        value = value[offset:] if length is None else value[offset : offset + length]
    return value


_EXPRESSION_TOKEN = re.compile(r'\s*("(?:[^"]*)"|!=|<=|>=|[=<>&|()!+\-*/]|[^\s=<>&|()!"+\-*/]+)')


def evaluate_expression(text: str) -> str:
    """``$[...]``: comparisons, ``&``, ``|``, ``!``, ``+ - * /`` on strings and integers."""
    tokens: list[str] = [piece for piece in _EXPRESSION_TOKEN.findall(text) if piece.strip()]
    if not tokens:
        return ""
    position = 0

    def peek() -> str | None:
        return tokens[position] if position < len(tokens) else None

    def take() -> str:
        nonlocal position
        piece = tokens[position]
        position += 1
        return piece

    def primary() -> str:
        piece = take()
        if piece == "(":
            value = disjunction()
            if peek() == ")":
                take()
            return value
        if piece == "!":
            return "1" if primary() in ("", "0") else "0"
        if piece.startswith('"') and piece.endswith('"'):
            return piece[1:-1]
        return piece

    def arithmetic() -> str:
        value = primary()
        while peek() in ("+", "-", "*", "/"):
            operator = take()
            right = primary()
            try:
                left_number, right_number = int(value), int(right)
            except ValueError:
                return ""
            if operator == "+":
                value = str(left_number + right_number)
            elif operator == "-":
                value = str(left_number - right_number)
            elif operator == "*":
                value = str(left_number * right_number)
            else:
                value = str(left_number // right_number) if right_number else ""
        return value

    def comparison() -> str:
        left = arithmetic()
        while peek() in ("=", "!=", "<", ">", "<=", ">="):
            operator = take()
            right = arithmetic()
            left = "1" if _compare(left, operator, right) else "0"
        return left

    def conjunction() -> str:
        value = comparison()
        while peek() == "&":
            take()
            right = comparison()
            value = value if value not in ("", "0") and right not in ("", "0") else "0"
        return value

    def disjunction() -> str:
        value = conjunction()
        while peek() == "|":
            take()
            right = conjunction()
            value = value if value not in ("", "0") else right
        return value

    return disjunction()


def _compare(left: str, operator: str, right: str) -> bool:
    try:
        a: int | str = int(left)
        b: int | str = int(right)
    except ValueError:
        a, b = left, right
    if operator == "=":
        return a == b
    if operator == "!=":
        return a != b
    if operator == "<":
        return a < b  # type: ignore[operator]
    if operator == ">":
        return a > b  # type: ignore[operator]
    if operator == "<=":
        return a <= b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def conditional(text: str) -> tuple[bool, str, str]:
    """``cond?iftrue:iffalse`` as ``GotoIf``/``IF``/``ExecIf`` read it."""
    condition, _, branches = text.partition("?")
    if_true, _, if_false = branches.partition(":")
    truth = condition.strip() not in ("", "0")
    return truth, if_true, if_false


def builtin_function(name: str, args: str, variables: Mapping[str, str]) -> str | None:
    """Dialplan functions that need nothing but their arguments and the variables."""
    if name == "IF":
        truth, if_true, if_false = conditional(args)
        return if_true if truth else if_false
    if name == "CUT":
        parts = split_arguments(args)
        value = variables.get(parts[0], "")
        delimiter = parts[1] if len(parts) > 1 and parts[1] else "-"
        fields = value.split(delimiter)
        which = parts[2] if len(parts) > 2 else "1"
        try:
            return fields[int(which) - 1]
        except (ValueError, IndexError):
            return ""
    if name == "LEN":
        return str(len(args))
    if name == "TOUPPER":
        return args.upper()
    if name == "TOLOWER":
        return args.lower()
    return None


def to_number(text: str, default: float) -> float:
    """An application's numeric argument (a timeout...), ``default`` when it is not one."""
    try:
        return float(text)
    except ValueError:
        return default
