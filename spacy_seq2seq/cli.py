"""Command-line tools: python -m spacy_seq2seq chat PATH."""

import sys
from pathlib import Path

import spacy
import typer
from wasabi import msg

from .conversation import Conversation

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
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU"),
) -> None:
    """Chat with a trained responder: a message per line on stdin, a reply
    per line on stdout, until end of input. "/reset" starts over. Scripted
    input works too (echo "hi" | python -m spacy_seq2seq chat PATH).
    """
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    if not Path(model).exists() and not spacy.util.is_package(model):
        msg.fail(f"Can't find a pipeline at '{model}'", exits=1)
    try:
        conversation = Conversation(spacy.load(model), max_turns=max_turns)
    except (OSError, ValueError) as e:
        msg.fail(f"Can't chat with '{model}'", str(e), exits=1)
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
        reply = conversation.reply(message)
        print(f"bot> {reply}" if interactive else reply, flush=True)
    if interactive:
        print()
