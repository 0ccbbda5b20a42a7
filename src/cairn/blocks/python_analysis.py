"""Find what a Python block defines and reads, with `ast` and Python's own scoping rules.

A script-style block defines the public names it binds at top level and reads the free
names it loads anywhere (top level or inside its functions) that it does not bind itself.
A function-style block is one function decorated with `@block`: its parameters are its
inputs and its return value is the one output, named after the block.
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Literal

from cairn.blocks.spec import PythonStyle
from cairn.errors import CairnError, Problem

_BUILTINS = frozenset(dir(builtins))
# Names the runner puts into every block's namespace.
CONTEXT_NAME = "context"

ScopeKind = Literal["module", "function", "class", "comprehension"]
# Bindings that make a name usable inside the block but never an output of it.
_PRIVATE_BINDINGS = frozenset({"import", "def", "class", "except"})


@dataclass
class _Scope:
    kind: ScopeKind
    parent: _Scope | None
    bound: dict[str, int] = field(default_factory=dict)
    binding_kinds: dict[str, set[str]] = field(default_factory=dict)
    declared_global: set[str] = field(default_factory=set)
    declared_nonlocal: set[str] = field(default_factory=set)
    loads: list[tuple[str, int]] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    # Every `Name` node of the scope, loaded or bound: where a rename edits the text.
    names: list[ast.Name] = field(default_factory=list)

    def binding(self, name: str) -> _Scope | None:
        """The scope whose binding a load of `name` in this scope refers to; None for the
        module namespace (the block's own names or its inputs)."""
        if self.kind == "module" or name in self.declared_global:
            return None
        if name in self.bound and name not in self.declared_nonlocal:
            return self
        scope = self.parent
        while scope is not None and scope.kind != "module":
            # A class body is not visible from the functions nested in it.
            if scope.kind != "class":
                if name in scope.declared_global:
                    return None
                if name in scope.bound:
                    return scope
            scope = scope.parent
        return None

    def resolves_globally(self, name: str) -> bool:
        """Whether a load of `name` in this scope reaches the module namespace."""
        return name not in self.declared_nonlocal and self.binding(name) is None


class _ScopeBuilder(ast.NodeVisitor):
    """Walks a module once, recording bindings and loads per scope."""

    def __init__(self) -> None:
        self.module = _Scope("module", None)
        self.scope = self.module
        self.scopes: list[_Scope] = [self.module]
        self.function_scopes: dict[ast.AST, _Scope] = {}
        # `from x import *` binds names no one can list.
        self.star_import = False

    # -- helpers -------------------------------------------------------------------------
    def _push(self, kind: ScopeKind) -> None:
        self.scope = _Scope(kind, self.scope)
        self.scopes.append(self.scope)

    def _pop(self) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def _bind(self, name: str, line: int, kind: str, scope: _Scope | None = None) -> None:
        scope = scope or self.scope
        if name in scope.declared_nonlocal:
            return
        if name in scope.declared_global:
            scope = self.module
        scope.bound.setdefault(name, line)
        scope.binding_kinds.setdefault(name, set()).add(kind)
        # Bound again after a `del`: the name exists when the block ends.
        scope.deleted.discard(name)

    def _load(self, name: str, line: int) -> None:
        self.scope.loads.append((name, line))

    def _visit_all(self, nodes: list[ast.expr] | list[ast.stmt] | list[ast.expr | None]) -> None:
        for node in nodes:
            if node is not None:
                self.visit(node)

    def _bind_parameters(self, args: ast.arguments) -> None:
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        for arg in params:
            self._bind(arg.arg, arg.lineno, "param")

    def _visit_signature(self, args: ast.arguments) -> None:
        """Defaults and annotations are evaluated in the enclosing scope."""
        self._visit_all(args.defaults)
        self._visit_all(args.kw_defaults)
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        params += [a for a in (args.vararg, args.kwarg) if a is not None]
        self._visit_all([a.annotation for a in params])

    # -- names ---------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        self.scope.names.append(node)
        if isinstance(node.ctx, ast.Store):
            self._bind(node.id, node.lineno, "assign")
        else:
            self._load(node.id, node.lineno)
            if isinstance(node.ctx, ast.Del):
                self.scope.deleted.add(node.id)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        if isinstance(node.target, ast.Name):
            self._load(node.target.id, node.lineno)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self.visit(node.annotation)
        if node.value is not None:
            self.visit(node.value)
            self.visit(node.target)
        elif not isinstance(node.target, ast.Name):
            self.visit(node.target)
        elif self.scope.kind == "function":
            # `x: int` assigns nothing, but still makes `x` local to the function.
            self._bind(node.target.id, node.lineno, "assign")

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        # The walrus binds in the nearest scope that is not a comprehension.
        scope = self.scope
        while scope.kind == "comprehension" and scope.parent is not None:
            scope = scope.parent
        self._bind(node.target.id, node.lineno, "assign", scope)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._bind(alias.asname or alias.name.split(".")[0], node.lineno, "import")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if alias.name != "*":
                self._bind(alias.asname or alias.name, node.lineno, "import")
            else:
                self.star_import = True

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.declared_global.update(node.names)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        self.scope.declared_nonlocal.update(node.names)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        if node.name:
            self._bind(node.name, node.lineno, "except")
        self._visit_all(node.body)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.name:
            self._bind(node.name, node.lineno, "assign")
        self.generic_visit(node)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self._bind(node.name, node.lineno, "assign")

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self._bind(node.rest, node.lineno, "assign")
        self.generic_visit(node)

    # -- scopes --------------------------------------------------------------------------
    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._visit_all(node.decorator_list)
        self._visit_signature(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self._bind(node.name, node.lineno, "def")
        self._push("function")
        self.function_scopes[node] = self.scope
        self._bind_parameters(node.args)
        self._visit_all(node.body)
        self._pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_signature(node.args)
        self._push("function")
        self._bind_parameters(node.args)
        self.visit(node.body)
        self._pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._visit_all(node.decorator_list)
        self._visit_all(node.bases)
        self._visit_all([k.value for k in node.keywords])
        self._bind(node.name, node.lineno, "class")
        self._push("class")
        self._visit_all(node.body)
        self._pop()

    def _visit_comprehension(
        self, generators: list[ast.comprehension], elements: list[ast.expr]
    ) -> None:
        # The first iterable is evaluated outside the comprehension's own scope.
        self.visit(generators[0].iter)
        self._push("comprehension")
        for index, generator in enumerate(generators):
            if index:
                self.visit(generator.iter)
            self.visit(generator.target)
            self._visit_all(generator.ifs)
        self._visit_all(elements)
        self._pop()

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._visit_comprehension(node.generators, [node.elt])

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self._visit_comprehension(node.generators, [node.elt])

    def visit_GeneratorExp(self, node: ast.GeneratorExp) -> None:
        self._visit_comprehension(node.generators, [node.elt])

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._visit_comprehension(node.generators, [node.key, node.value])


@dataclass
class PythonAnalysis:
    """The inference result for one Python block."""

    style: PythonStyle
    defines: dict[str, int]
    references: dict[str, int]
    parameters: list[str] = field(default_factory=list)
    optional_parameters: set[str] = field(default_factory=set)
    tests: list[str] = field(default_factory=list)
    function_name: str | None = None
    star_import: bool = False


def parse_python(source: str, filename: str) -> ast.Module:
    """Parse a block, turning a syntax error into a problem with its file and line."""
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as error:
        raise CairnError(
            Problem(
                "syntax-error",
                f"syntax error: {error.msg}",
                file=filename,
                line=error.lineno,
                hint="fix the Python syntax at that line",
            )
        ) from None


def _is_block_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == "block"
    return isinstance(target, ast.Attribute) and target.attr == "block"


def _test_functions(tree: ast.Module) -> list[str]:
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    ]


def analyze_python(tree: ast.Module, filename: str, block_name: str) -> PythonAnalysis:
    """Infer a parsed block's outputs and inputs."""
    decorated = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(_is_block_decorator(d) for d in node.decorator_list)
    ]
    if len(decorated) > 1:
        raise CairnError(
            Problem(
                "multiple-block-functions",
                "a block file may hold only one @block function, found "
                + ", ".join(f"{f.name} (line {f.lineno})" for f in decorated),
                file=filename,
                line=decorated[1].lineno,
                hint="move the other functions to their own block files",
            )
        )
    if decorated:
        return _analyze_function_style(tree, decorated[0], block_name)
    return _analyze_script_style(tree)


def _analyze_function_style(
    tree: ast.Module, function: ast.FunctionDef | ast.AsyncFunctionDef, block_name: str
) -> PythonAnalysis:
    args = function.args
    positional = [*args.posonlyargs, *args.args]
    with_defaults = positional[len(positional) - len(args.defaults) :]
    optional = {a.arg for a in with_defaults}
    optional |= {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d}
    names = [a.arg for a in [*positional, *args.kwonlyargs]]
    references = {name: function.lineno for name in names if name != CONTEXT_NAME}
    return PythonAnalysis(
        style="function",
        defines={block_name: function.lineno},
        references=references,
        parameters=names,
        optional_parameters=optional,
        tests=_test_functions(tree),
        function_name=function.name,
    )


def _analyze_script_style(tree: ast.Module) -> PythonAnalysis:
    builder = _ScopeBuilder()
    builder.visit(tree)
    module = builder.module

    references: dict[str, int] = {}
    for scope in builder.scopes:
        for name, line in scope.loads:
            if name in module.bound or name in _BUILTINS or name == CONTEXT_NAME:
                continue
            if name.startswith("__") or not scope.resolves_globally(name):
                continue
            references[name] = min(line, references.get(name, line))  # its first use

    defines = {
        name: line
        for name, line in module.bound.items()
        if not name.startswith("_")
        and name != CONTEXT_NAME
        and name not in module.deleted
        and not module.binding_kinds[name] <= _PRIVATE_BINDINGS
    }
    return PythonAnalysis(
        style="script", defines=defines, references=references, tests=_test_functions(tree),
        star_import=builder.star_import,
    )
