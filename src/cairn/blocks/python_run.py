"""Execute a Python block: its inputs in, its outputs and test results out."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

from cairn.blocks.project_code import project_root_of, use_project_code
from cairn.blocks.python_analysis import CONTEXT_NAME
from cairn.blocks.spec import BlockSpec
from cairn.errors import BlockError
from cairn.runtime.context import RunContext


def _call_with_names(
    function: Callable[..., Any], available: Mapping[str, Any], fallback: Any = None
) -> Any:
    """Call `function` with the values its parameters name; one unnamed parameter gets
    `fallback` (the block's output, for tests of function-style blocks)."""
    parameters = list(inspect.signature(function).parameters)
    if len(parameters) == 1 and parameters[0] not in available:
        return function(fallback)
    return function(**{p: available[p] for p in parameters if p in available})


def run_python(spec: BlockSpec, inputs: Mapping[str, Any], context: RunContext) -> dict[str, Any]:
    """Run the block's code in a fresh namespace and return its outputs by name."""
    root = project_root_of(spec.file)
    if root is not None:
        use_project_code(root)
    code = compile(spec.source, str(spec.file), "exec")
    namespace: dict[str, Any] = {
        "__name__": f"cairn_block_{spec.name}",
        "__file__": str(spec.file),
        CONTEXT_NAME: context,
    }
    if spec.style == "script":
        namespace.update(inputs)
    exec(code, namespace)

    if spec.style == "function":
        assert spec.function_name is not None
        function = namespace[spec.function_name]
        arguments = {**inputs, CONTEXT_NAME: context}
        outputs: dict[str, Any] = {spec.name: _call_with_names(function, arguments)}
        fallback = outputs[spec.name]
    else:
        outputs = {str(name): namespace[name] for name in spec.defines if name in namespace}
        fallback = None

    for test_name in spec.tests:
        try:
            _call_with_names(namespace[test_name], {**inputs, **outputs}, fallback)
        except AssertionError as error:
            raise BlockError(
                f"block test {test_name} failed: {error or 'assertion failed'}",
                file=str(spec.file),
                line=_failing_line(error, str(spec.file)),
            ) from error
    return outputs


def _failing_line(error: BaseException, filename: str) -> int | None:
    traceback = error.__traceback__
    line = None
    while traceback is not None:
        if traceback.tb_frame.f_code.co_filename == filename:
            line = traceback.tb_lineno
        traceback = traceback.tb_next
    return line
