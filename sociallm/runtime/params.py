"""Validation of an environment's parameters against its pydantic `Params` model, into one-line errors.

Here, below the environments, so the scenario validator can check any game's parameters (found through
the registry) without importing a game; environments/base.py re-exports these for game authors.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError


class EnvironmentConfigError(ValueError):
    """Bad environment parameters; the message names the parameter and the fix (all of them, `; `-joined)."""

    def __init__(self, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.lines = lines or [message]


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "model-")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def params_problems(model: type[BaseModel], exc: ValidationError) -> list[str]:
    """One line per problem, each naming `environment.params.<field>`."""
    lines = []
    for err in exc.errors():
        where = _where(tuple(err["loc"]))
        if err["type"] == "extra_forbidden":
            msg = f"unknown parameter; known: {', '.join(sorted(model.model_fields))}"
        elif err["type"] == "missing":
            msg = "required"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            # A validator of a list names the bad entry as "[k]: problem" (see bertrand's per-firm lists).
            if m := re.match(r"^(\[\d+\]): ", msg):
                where, msg = where + m.group(1), msg[m.end() :]
        lines.append(f"environment.params{'.' + where if where else ''}: {msg}")
    return lines


def validate_params(model: type[BaseModel], params: Any, agents: list[str]) -> BaseModel:
    """The parameters as `model`, or an EnvironmentConfigError listing every problem."""
    if params is None:
        params = {}
    try:
        return model.model_validate(params, context={"agents": list(agents)})
    except ValidationError as exc:
        lines = params_problems(model, exc)
        raise EnvironmentConfigError("; ".join(lines), lines) from None
