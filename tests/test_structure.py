"""Imports point one way: the agent uses the training loop, checkpoints and evaluation; none of
them imports the agent (type hints aside), so no import runs in a circle."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "dqnlib"


def runtime_imports(path: Path) -> set[str]:
    """dqnlib modules that ``path`` imports when it runs (at any depth, in functions too),
    leaving out imports under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text())
    type_only = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and ast.unparse(block.test) == "TYPE_CHECKING"
        for statement in block.body
        for node in ast.walk(statement)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("dqnlib"):
            found |= {node.module} if node.module != "dqnlib" else {f"dqnlib.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("dqnlib")}
    return found


@pytest.mark.parametrize(
    "module", ["checkpoint", "training", "threads", "evaluation", "envs", "replay", "metrics"]
)
def test_the_loop_checkpoints_and_evaluation_import_no_agent(module):
    imports = runtime_imports(PACKAGE / f"{module}.py")
    assert not imports & {"dqnlib.agent", "dqnlib.DQNAgent", "dqnlib.AtariDQNAgent"}, imports
