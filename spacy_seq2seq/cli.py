"""Command-line tools: python -m spacy_seq2seq chat PATH."""

import io
import sys
from pathlib import Path
from typing import Optional

import spacy
import typer
from wasabi import msg

from .conversation import Conversation, printable

app = typer.Typer(name="spacy_seq2seq", add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """spacy-seq2seq's commands."""


@app.command("chat")
def chat(
    model: str = typer.Argument(
        ..., help="A pipeline with a seq2seq_responder: a directory or package name"
    ),
    max_turns: int = typer.Option(3, help="Turns the responder reads"),
    component: Optional[str] = typer.Option(
        None,
        help="The component that answers: needed when the pipeline has several "
        "responders, or none (any seq2seq component)",
    ),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
) -> None:
    """Chat with a trained responder: a message per line on stdin, a reply
    per line on stdout, until end of input. "/reset" starts over. Scripted
    input works too (echo "hi" | python -m spacy_seq2seq chat PATH). Input
    that is not UTF-8 is read with replacement characters, and replies are
    printed without control characters or escape sequences.
    """
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if not Path(model).exists() and not spacy.util.is_package(model):
        msg.fail(f"Can't find a pipeline at '{model}'", exits=1)
    try:
        conversation = Conversation(
            spacy.load(model), max_turns=max_turns, component=component
        )
    except (OSError, ValueError) as e:
        msg.fail(f"Can't chat with '{model}'", str(e), exits=1)
    for stream in (sys.stdin, sys.stdout):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(encoding="utf-8", errors="replace")
    interactive = sys.stdin.isatty()
    if interactive:
        msg.info("Type a message and press Enter; /reset starts over, Ctrl-D quits.")
    while True:
        try:
            message = input("you> " if interactive else "")
        except (EOFError, KeyboardInterrupt):
            break
        if message.strip() == "/reset":
            conversation.reset()
            continue
        reply = printable(conversation.reply(message))
        print(f"bot> {reply}" if interactive else reply, flush=True)
    if interactive:
        print()
