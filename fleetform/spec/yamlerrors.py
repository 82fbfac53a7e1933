"""YAML syntax errors in plain words: what is wrong on which line, and what to do.

PyYAML reports the parser's view ("expected <block end>, but found '<block mapping
start>'"); users need the file's view (this line is indented differently from the keys
above it). Anything not recognised keeps the parser's words.
"""

from __future__ import annotations

import yaml


def _at(mark: yaml.Mark | None) -> str:
    return "-" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"


def explain(exc: yaml.MarkedYAMLError) -> tuple[str, str]:
    """(where, message) for a YAML syntax error: where is ``line L, column C``; the message
    says what is wrong and what to do (the parser's words when the error is not one of the
    usual ones)."""
    problem = exc.problem or ""
    context = exc.context or ""
    mark, start = exc.problem_mark, exc.context_mark
    where = _at(mark or start)
    opened = f"line {start.line + 1}" if start is not None else "above"
    if "'\\t'" in problem or "\t" in problem:
        return where, ("a tab character: YAML indents with spaces only; replace the tab with spaces")
    if problem == "mapping values are not allowed here":
        return where, ("unexpected 'key: value' here: check that this line is indented like the keys "
                       "around it, that a 'key:' has a space after the colon, and quote a value that "
                       "contains ': '")
    if problem.startswith("expected <block end>, but found '-'"):
        return where, (f"a list item ('- ') where the block that starts on {opened} holds keys: indent "
                       "the item under the key it belongs to, or line it up with the other items")
    if problem.startswith("expected <block end>, but found") and start is not None and mark is not None:
        what = "list items" if "collection" in context else "keys"
        return where, (f"this line starts at column {mark.column + 1}, which lines up with no block above "
                       f"it (the {what} of the block from {opened} start at column {start.column + 1}): "
                       "indent it with exactly as many spaces as the lines it belongs with")
    if context.startswith("while parsing a flow") and problem.endswith("but found '-'"):
        return where, ("a '- ' list item inside brackets ([...] or {...}): close the bracket before it, "
                       "or write the list as '- ' lines without brackets")
    if context.startswith("while parsing a flow") and problem.startswith("expected ','") and start is not None:
        bracket = "[" if "sequence" in context else "{"
        closing = "]" if bracket == "[" else "}"
        return where, (f"the '{bracket}' opened on {opened}, column {start.column + 1} is not closed: "
                       f"add the missing '{closing}' (or a ',' between items)")
    if context.startswith("while scanning a quoted scalar") and start is not None:
        return _at(start), "a quote opened here is never closed: add the closing quote"
    if problem == "could not find expected ':'":
        return where, ("a line without 'key: value' inside a mapping: add the ':' after the key, "
                       "or quote the text")
    return where, " ".join(s for s in (context, problem) if s) or str(exc)
