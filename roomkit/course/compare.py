"""What a scenario run produced, normalised, and the sentences that say how two runs differ.

Session ids differ between runs, so every client's sid is replaced by
``<name id>`` before comparing, and error texts (the value of an ``"error"``
key) are not compared: only that there is one. :func:`compare` fails with
sentences such as::

    bob should have received 'user joined' ['<alice id>'] (the reference sends it);
    your server sent bob nothing
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from roomkit.course.failures import ExerciseFailure
from roomkit.course.scenario import CALL_TIMEOUT, NO_ANSWER, HandlerError, scenario_text

__all__ = ["ANY_ERROR_TEXT", "MAX_DIFFERENCES", "Observed", "compare", "normalize"]

ANY_ERROR_TEXT = "<any error text>"
MAX_DIFFERENCES = 3


@dataclass
class Observed:
    """What one scenario run produced, normalized for comparison.

    :attr order: client names in the order they connected.
    :attr namespaces: each client's namespace.
    :attr refusals: the refusal reason of each refused client (None: accepted).
    :attr received: what each client received: ``(event, [arguments])`` in order.
    :attr answers: each client's calls and their answers, in order.
    :attr steps: what the scenario did, in words.
    :attr errors: exceptions raised by the server's handlers.
    """

    order: list[str]
    namespaces: dict[str, str]
    refusals: dict[str, str | None]
    received: dict[str, list[tuple[str, Any]]]
    answers: dict[str, list[tuple[str, Any]]]
    steps: list[str]
    errors: list[HandlerError] = field(default_factory=list)


def normalize(value: Any, sids: Mapping[str, str]) -> Any:
    """``value`` with each known sid replaced by ``<name id>`` and every error text by
    :data:`ANY_ERROR_TEXT`.

    :param value: what a client received or was answered.
    :param sids: client name by sid.
    """
    if isinstance(value, str):
        return f"<{sids[value]} id>" if value in sids else value
    if isinstance(value, Mapping):
        return {
            normalize(key, sids): (
                ANY_ERROR_TEXT
                if key == "error" and isinstance(item, str)
                else normalize(item, sids)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [normalize(item, sids) for item in value]
    return value


def _event(item: tuple[str, Any]) -> str:
    return f"{item[0]!r} {item[1]!r}"


def _received_differences(name: str, expected: list[Any], actual: list[Any]) -> list[str]:
    if expected == actual:
        return []
    if Counter(map(repr, expected)) == Counter(map(repr, actual)):
        return [
            f"{name} received the right events in another order: the reference sends "
            f"{', '.join(map(_event, expected))}; your server sent "
            f"{', '.join(map(_event, actual))}"
        ]
    missing = list(expected)
    extra: list[Any] = []
    for item in actual:
        if item in missing:
            missing.remove(item)
        else:
            extra.append(item)
    lines = []
    for item in missing:
        same_event = [other for other in extra if other[0] == item[0]]
        if same_event:
            extra.remove(same_event[0])
            lines.append(
                f"{name} should have received {_event(item)} (the reference sends it); "
                f"your server sent {_event(same_event[0])}"
            )
        elif not actual:
            lines.append(
                f"{name} should have received {_event(item)} (the reference sends it); "
                f"your server sent {name} nothing"
            )
        else:
            lines.append(
                f"{name} should have received {_event(item)} (the reference sends it); "
                "your server did not send it"
            )
    repeated: list[Any] = []
    for item in extra:
        if item in expected:  # sent more often than the reference sends it
            if item not in repeated:
                repeated.append(item)
                lines.append(
                    f"{name} received {_event(item)} {_times(actual.count(item))}; "
                    f"the reference sends it {_times(expected.count(item))}"
                )
        else:
            lines.append(
                f"{name} should not have received {_event(item)} (the reference does not send it)"
            )
    return lines


def _times(count: int) -> str:
    return {1: "once", 2: "twice"}.get(count, f"{count} times")


def _answer_differences(
    name: str, expected: list[tuple[str, Any]], actual: list[tuple[str, Any]]
) -> list[str]:
    lines = []
    for (what, want), (_, got) in zip(expected, actual, strict=False):
        if want == got:
            continue
        if got is NO_ANSWER:
            shown = f"did not answer within {CALL_TIMEOUT:g} s"
        else:
            shown = f"answered {got!r}"
        want_shown = "get no answer" if want is NO_ANSWER else f"be answered {want!r}"
        lines.append(
            f"{name}'s {what} should {want_shown} (as with the reference); your server {shown}"
        )
    return lines


def _connection_differences(name: str, namespace: str, want: str | None, got: str | None) -> str:
    if want == got:
        return ""
    if want is None:
        return (
            f"{name}'s connection to {namespace} should be accepted (the reference accepts it); "
            f"your server refused it ({got!r})"
        )
    if got is None:
        return (
            f"{name}'s connection to {namespace} should be refused with {want!r} "
            "(the reference refuses it); your server accepted it"
        )
    return (
        f"{name}'s connection to {namespace} should be refused with {want!r}; "
        f"your server refused it with {got!r}"
    )


def compare(expected: Observed, actual: Observed) -> None:
    """Fail when ``actual`` (the candidate's run) differs from ``expected`` (the reference's).

    :raises ExerciseFailure: listing the first differences, the scenario, and the
        exceptions the candidate's handlers raised.
    """
    lines: list[str] = []
    for name in expected.order:
        namespace = expected.namespaces[name]
        connection = _connection_differences(
            name, namespace, expected.refusals.get(name), actual.refusals.get(name)
        )
        if connection:
            lines.append(connection)
            continue
        lines.extend(
            _received_differences(
                name, expected.received.get(name, []), actual.received.get(name, [])
            )
        )
        lines.extend(
            _answer_differences(name, expected.answers.get(name, []), actual.answers.get(name, []))
        )
    if not lines:
        return
    shown = lines[:MAX_DIFFERENCES]
    hidden = len(lines) - MAX_DIFFERENCES
    if hidden > 0:
        shown.append(f"(and {hidden} more difference{'s' if hidden > 1 else ''})")
    message = [*shown, scenario_text(expected.steps)]
    errors = list(dict.fromkeys(error.describe() for error in actual.errors))
    message.extend(f"Your server, {error}" for error in errors[:2])
    raise ExerciseFailure("\n".join(message))
