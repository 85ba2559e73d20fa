"""A trained pipeline and its seq2seq component: loading a pipeline from a
directory or an installed package (with the way out for one saved by 0.1),
and finding the component to use. The chat, the server, `apply`, Ray and
the scripts all start here."""

from pathlib import Path
from typing import Any, List, Optional, Union

import spacy
from spacy.language import Language

from .component import Seq2SeqComponent
from .upgrade import needs_upgrade


def require_pipeline(model: Union[str, Path]) -> None:
    """Raise an OSError unless `model` is a directory or an installed package."""
    if not Path(model).exists() and not spacy.util.is_package(str(model)):
        raise OSError(
            f"Can't find a pipeline at '{model}': not a directory nor an "
            "installed package."
        )


def load_pipeline(model: Union[str, Path], **kwargs: Any) -> Language:
    """spacy.load of a directory or an installed package. Raises an OSError
    when there is neither, and a ValueError that says to run `python -m
    spacy_seq2seq upgrade` when the pipeline was saved by 0.1 (its config's
    flat decoding settings fail spaCy's validation)."""
    require_pipeline(model)
    try:
        return spacy.load(model, **kwargs)
    except ValueError as e:
        if not needs_upgrade(model):
            raise
        raise ValueError(
            f"{model} was saved by spacy-seq2seq 0.1, whose config has the decoding "
            f"settings flat: run `python -m spacy_seq2seq upgrade {model}` once "
            f"to move them into the decoding block ({type(e).__name__}: "
            f"{str(e).strip().splitlines()[0]})"
        ) from None


def find_component(
    nlp: Language,
    name: Optional[str] = None,
    *,
    task: Optional[str] = None,
    purpose: str = "use",
) -> Seq2SeqComponent:
    """The seq2seq component to use: the one named (of any task), or else
    the pipeline's only seq2seq component of the `task` ("summarize",
    "reply"; None: any). `purpose` says in an error what it was looked for."""
    seq2seq = [n for n, pipe in nlp.pipeline if isinstance(pipe, Seq2SeqComponent)]
    if name is not None:
        if name not in seq2seq:
            raise ValueError(
                f"The pipeline has no seq2seq component named '{name}' (its "
                f"seq2seq components: {seq2seq}; its pipes: {nlp.pipe_names})"
            )
        return nlp.get_pipe(name)
    found = [n for n in seq2seq if task in (None, nlp.get_pipe(n).task)]
    if len(found) != 1:
        kind = "seq2seq component" if task is None else f"seq2seq component to {task}"
        raise ValueError(
            f"Expected one {kind} in the pipeline {nlp.pipe_names}, found "
            f"{len(found)}: name the component to {purpose} (one of {seq2seq})."
        )
    return nlp.get_pipe(found[0])


def component_name(nlp: Language, component: Seq2SeqComponent) -> str:
    """The name the component has in the pipeline."""
    return next(name for name, pipe in nlp.pipeline if pipe is component)


def output_fields(nlp: Language) -> List[str]:
    """The doc._ fields the pipeline's seq2seq components write their text to."""
    fields = [
        pipe.target_field
        for _, pipe in nlp.pipeline
        if isinstance(pipe, Seq2SeqComponent)
    ]
    if not fields:
        raise ValueError(
            f"The pipeline {nlp.pipe_names} has no seq2seq component to apply."
        )
    return fields
