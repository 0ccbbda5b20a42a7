"""New, explained and fixed blocks: a model with repair rounds when one is configured, the
built-in templates otherwise; every block is validated before anyone sees it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cairn.ai.context import GenerationContext, build_context
from cairn.ai.providers import Provider, open_provider
from cairn.ai.validate import SUFFIXES, validate_block
from cairn.errors import CairnError, Problem, closest

if TYPE_CHECKING:
    from cairn.blocks.spec import BlockSpec
    from cairn.project.config import Project

INSTRUCTIONS = """\
You write one block of a Cairn data pipeline. Answer with ONE fenced code block in {language}
(```{fence} ... ```) holding the whole file, and nothing else. Follow the block contract below:
read inputs only under the names the pipeline provides, produce the outputs as it says, log
what the block does and fail with a clear message when the data is not as expected."""

_FENCES = {"python": ("python", "py"), "sql": ("sql",), "r": ("r",)}
_STOPWORDS = {"a", "an", "the", "of", "by", "from", "to", "in", "on", "for", "with", "and",
              "or", "per", "each", "every", "all", "into", "keeping", "that", "which", "as"}
_FENCED = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)


@dataclass
class Generated:
    """A block's text and how it was made; `attempts` counts model answers (1 + repairs)."""

    name: str
    language: str
    code: str
    source: Literal["model", "template"]
    template: str | None
    attempts: int
    context: GenerationContext
    problems: list[Problem]


def system_prompt(context: GenerationContext) -> str:
    """Everything sent to the model besides the user's own words."""
    fence = _FENCES[context.language][0]
    return INSTRUCTIONS.format(language=context.language, fence=fence) + "\n\n" + context.render()


def generate_block(project: Project, pipeline: str, description: str,
                   language: str | None = None, name: str | None = None) -> Generated:
    """A new block doing what `description` says, from the model or else a template."""
    language = language or "python"
    context = build_context(project, pipeline, language)
    name = name or default_name(project, pipeline, description)
    if not name.isidentifier():
        raise CairnError(Problem("bad-block-name", f"{name!r} cannot name a block",
                                 hint="use letters, digits and _, not starting with a digit"))
    provider = open_provider(project)
    if provider is None:
        from cairn.ai.templates import from_template

        made = from_template(description, language, name, context)
        problems = validate_block(project, pipeline, name, language, made.code)
        return Generated(name, language, made.code, "template", made.template, 0, context,
                         problems)
    return _ask(project, provider, pipeline, name, context, description)


def fix_block(project: Project, pipeline: str, block: str) -> Generated:
    """A corrected whole file for `block`, from its source and its latest failed run."""
    spec = _block(project, pipeline, block)
    context = build_context(project, pipeline, spec.language, target=block, with_history=True)
    provider = _required(open_provider(project), "fix")
    request = (f"Fix block {block}. Its source and the errors of its recent runs are above. "
               "Answer with the whole corrected file.")
    return _ask(project, provider, pipeline, block, context, request)


def explain_block(project: Project, pipeline: str, block: str) -> str:
    """What `block` does, in the model's words; without a model, what Cairn knows of it."""
    spec = _block(project, pipeline, block)
    context = build_context(project, pipeline, spec.language, target=block)
    provider = open_provider(project)
    if provider is None:
        return _plain_explanation(context, spec)
    system = ("You explain one block of a Cairn data pipeline to its author in a few short "
              "paragraphs: what it reads, what it produces, and anything risky.\n\n"
              + context.render())
    return provider.complete(system, [{"role": "user", "content": f"Explain block {block}."}])


def save_block(project: Project, pipeline: str, generated: Generated,
               replace: bool = False) -> Path:
    """Write the block's file; a new block never overwrites a file, a fix replaces its own."""
    from cairn.atomic import write_atomically
    from cairn.project.lock import edit_lock

    folder = project.pipeline_dir(pipeline)
    with edit_lock(project):  # the name checked free is still free when written
        existing = [p for p in folder.glob(f"{generated.name}.*")
                    if p.suffix in (*SUFFIXES.values(), ".r")]
        if existing and not replace:
            raise CairnError(Problem("block-exists", f"block {generated.name} already exists",
                                     file=str(existing[0]),
                                     hint="choose another name with --name"))
        path = project.check_inside(
            existing[0] if existing else folder / f"{generated.name}{SUFFIXES[generated.language]}")
        write_atomically(path, generated.code.encode("utf-8"))
    return path


def default_name(project: Project, pipeline: str, description: str) -> str:
    """snake_case of the description's first significant words, unique in the pipeline."""
    from cairn.project.pipeline import load_pipeline

    words = [w for w in re.findall(r"[a-z0-9]+", description.lower()) if w not in _STOPWORDS]
    base = "_".join(words[:3]) or "new_block"
    if base[0].isdigit():
        base = f"block_{base}"
    loaded = load_pipeline(project, pipeline)
    taken: set[str] = set(loaded.blocks)
    taken |= {n for s in loaded.blocks.values() for n in s.defines}
    taken |= {p.stem for p in loaded.folder.iterdir()}
    name, number = base, 2
    while name in taken:
        name, number = f"{base}_{number}", number + 1
    return name


def extract_code(answer: str, language: str) -> str:
    """The first fenced block in `language` (else the first fenced block), else the answer."""
    blocks = _FENCED.findall(answer)
    for tag, code in blocks:
        if tag.lower() in _FENCES[language]:
            return str(code).strip() + "\n"
    if blocks:
        return str(blocks[0][1]).strip() + "\n"
    return answer.strip() + "\n"


def _ask(project: Project, provider: Provider, pipeline: str, name: str,
         context: GenerationContext, request: str) -> Generated:
    """Ask, validate, and send problems back for up to `max_repairs` rounds."""
    settings = project.settings.ai.provider
    rounds = settings.max_repairs if settings else 0
    system = system_prompt(context)
    messages = [{"role": "user", "content": request}]
    problems: list[Problem] = []
    for attempt in range(1, rounds + 2):
        answer = provider.complete(system, messages)
        code = extract_code(answer, context.language)
        problems = validate_block(project, pipeline, name, context.language, code)
        if not problems:
            return Generated(name, context.language, code, "model", None, attempt, context, [])
        messages += [{"role": "assistant", "content": answer},
                     {"role": "user", "content": repair_request(problems)}]
    raise CairnError([Problem(
        "generation-failed", f"the model's block {name} still has problems after {rounds} "
        "repair round(s)", hint="describe the block differently, or write it by hand"),
        *problems])


def repair_request(problems: list[Problem]) -> str:
    lines = [f"- line {p.line}: {p.message}" if p.line else f"- {p.message}" for p in problems]
    return ("The block has problems:\n" + "\n".join(lines)
            + "\nAnswer with the whole corrected file, in one fenced code block.")


def _block(project: Project, pipeline: str, block: str) -> BlockSpec:
    from cairn.project.pipeline import load_pipeline

    loaded = load_pipeline(project, pipeline)
    for name, spec in loaded.blocks.items():
        if name == block:
            return spec
    raise CairnError(Problem("unknown-block", f"pipeline {pipeline} has no block {block!r}",
                             hint=closest(block, loaded.blocks)))


def _required(provider: Provider | None, action: str) -> Provider:
    if provider is None:
        raise CairnError(Problem(
            "no-provider", f"no model is configured, and one is needed to {action} a block",
            file="cairn.yaml", hint="add `ai: {provider: {kind: openai, url: ..., model: ...}}`"
            " to cairn.yaml"))
    return provider


def _plain_explanation(context: GenerationContext, spec: BlockSpec) -> str:
    reads = ", ".join(spec.references) or "nothing from other blocks"
    lines = [f"No model is configured (ai.provider in cairn.yaml), so this is what Cairn "
             f"itself knows of block {spec.name} ({spec.language}):",
             f"- reads: {reads}",
             f"- defines: {', '.join(spec.defines) or 'nothing'}"]
    for output in spec.defines:
        columns = context.schemas.get(output)
        if columns:
            shown = ", ".join(f"{c['name']} {c['type']}" for c in columns)
            lines.append(f"- {output} (latest successful run): {shown}")
    return "\n".join(lines)
