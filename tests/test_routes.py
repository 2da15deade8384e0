"""What a Route declares, read the way the edge reads it: the input model from the handler's
first parameter, and the retry rule (may a call be sent to the database again after its
connection died under it?) for one parsed input."""

from __future__ import annotations

import importlib
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import BaseModel

import functions
import main
from functions.catalogue import NotAFunction, declared_in, functions_by_name
from functions.edge.http import Call, Route
from functions.shared.models import Idempotency

KEY = Idempotency("tab-1-click-1", "0" * 64)
ROOT = Path(__file__).resolve().parent.parent


def route(function: str, method: str) -> Route:
    return functions_by_name()[function].routes[method]


def parsed(function: str, method: str, **values: object) -> BaseModel:
    model: type[BaseModel] = route(function, method).input_type
    return model.model_validate(values)


@pytest.mark.parametrize(
    ("function", "method"),
    [(f.name, m) for f in functions_by_name().values() for m in f.routes if m == "GET"],
)
def test_every_read_may_be_sent_again(function: str, method: str) -> None:
    assert route(function, method).may_retry(None, None)


@pytest.mark.parametrize(
    ("function", "fields"),
    [
        ("interaction-gate", {}),
        ("human-reply", {}),
        ("pause-logger", {"action": "interaction_blocked"}),
    ],
)
def test_a_write_deduped_by_message_id_may_be_sent_again_only_with_one(
    function: str, fields: dict[str, str]
) -> None:
    conversation = str(uuid4())
    with_id = parsed(function, "POST", conversation_id=conversation, message_id="m-1", **fields)
    without = parsed(function, "POST", conversation_id=conversation, **fields)

    assert route(function, "POST").may_retry(with_id, None)
    assert not route(function, "POST").may_retry(without, None)


@pytest.mark.parametrize("function", ["pause-activate", "pause-extend", "pause-resume"])
def test_a_transition_may_be_sent_again_only_under_an_idempotency_key(function: str) -> None:
    fields = {"duration_minutes": 15} if function == "pause-extend" else {}
    body = parsed(function, "POST", conversation_id=str(uuid4()), **fields)

    assert route(function, "POST").may_retry(body, KEY)
    assert not route(function, "POST").may_retry(body, None)


def test_the_sweep_may_always_be_sent_again() -> None:
    assert route("auto-resume", "POST").may_retry(parsed("auto-resume", "POST"), None)


class Question(BaseModel):
    text: str


class Reply(BaseModel):
    text: str


def answer(asked: Call[Question]) -> Reply:
    return Reply(text=asked.input.text)


def test_the_input_model_is_read_from_the_first_parameter_whatever_its_name() -> None:
    declared = Route("POST", answer, "Answer a question")

    assert declared.input_type is Question
    assert declared.answer_type is Reply


@pytest.mark.parametrize(
    ("module", "source", "refusal"),
    [
        ("helpers", "VALUE = 1\n", r"helpers\.py declares no FUNCTION"),
        (
            "gate",
            "from functions.edge.http import Function\nFUNCTION = Function('interaction-gate')\n",
            r"gate\.py declares interaction-gate: name it interaction_gate\.py",
        ),
    ],
    ids=["declares-none", "misnamed"],
)
def test_every_module_at_the_top_of_a_package_of_functions_declares_the_one_it_is_named_for(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, source: str, refusal: str
) -> None:
    package = tmp_path / f"functions_{module}"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / f"{module}.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))

    with pytest.raises(NotAFunction, match=refusal):
        declared_in(importlib.import_module(f"functions_{module}"))


def test_the_entry_point_names_what_a_target_lacks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown target is functions-framework's "no such function"; a function whose own
    import fails says which module is missing, never "no such function"."""
    (tmp_path / "broken_import.py").write_text("import a_package_nobody_installed\n")
    monkeypatch.setattr(functions, "__path__", [*functions.__path__, str(tmp_path)])

    with pytest.raises(AttributeError, match="no_such_function"):
        main.__getattr__("no_such_function")
    with pytest.raises(AttributeError, match="edge"):
        main.__getattr__("edge")  # a package of helpers, no FUNCTION
    with pytest.raises(ModuleNotFoundError) as missing:
        main.__getattr__("broken_import")
    assert missing.value.name == "a_package_nobody_installed"
    assert callable(main.__getattr__("pause_activate"))


def test_the_catalogue_holds_every_function_module_and_nothing_else() -> None:
    modules = {path.stem for path in (ROOT / "functions").glob("*.py")} - {"__init__"}

    assert {function.target for function in functions_by_name().values()} == modules
