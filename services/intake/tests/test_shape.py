"""The shape docs/DESIGN.md asks of intake, checked so that it stays: thin entrypoints, and
one place that writes a case's timeline, audit log and outgoing events."""
import ast
import re
from pathlib import Path

INTAKE = Path(__file__).resolve().parents[1]
SERVICE = INTAKE / "service.py"


def _entrypoints():
    tree = ast.parse(SERVICE.read_text(encoding="utf-8"))
    (service,) = [node for node in tree.body
                  if isinstance(node, ast.ClassDef) and node.name == "IntakeService"]
    return [node for node in service.body if isinstance(node, ast.FunctionDef)
            and node.decorator_list]


def _body_lines(function: ast.FunctionDef) -> int:
    body = function.body
    if isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the docstring
    return body[-1].end_lineno - body[0].lineno + 1


def _projections():
    """The consumers declared as `on_x = handlers.projection(source, "x")`: no body at all."""
    tree = ast.parse(SERVICE.read_text(encoding="utf-8"))
    (service,) = [node for node in tree.body
                  if isinstance(node, ast.ClassDef) and node.name == "IntakeService"]
    return [node for node in service.body if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and ast.unparse(node.value.func) == "handlers.projection"]


def test_the_service_module_holds_only_thin_entrypoints():
    assert len(SERVICE.read_text(encoding="utf-8").splitlines()) <= 250
    entrypoints = _entrypoints()
    assert len(entrypoints) + len(_projections()) >= 20
    too_long = {f.name: _body_lines(f) for f in entrypoints if _body_lines(f) > 15}
    assert too_long == {}


def test_timeline_audit_and_outbox_are_written_in_one_place():
    writers = re.compile(r"(?<!class )(TimelineEntry|AuditEntry)\(|\.emit\(|_append\(|_audit\(")
    found = {path.name for path in INTAKE.glob("*.py")
             if writers.search(path.read_text(encoding="utf-8"))}
    assert found == {"events.py"}
