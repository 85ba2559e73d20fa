"""Command-line tools: python -m spacy_seq2seq chat PATH, serve PATH,
apply MODEL INPUT OUTPUT, upgrade PATH."""

import importlib.util
import io
import sys
from pathlib import Path
from typing import Optional

import spacy
import typer
from wasabi import msg

from .conversation import Conversation, printable
from .pipeline import load_pipeline, require_pipeline
from .serve.limits import DEFAULT_LIMITS as LIMITS
from .serve.limits import Limits
from .upgrade import upgrade_pipeline

app = typer.Typer(name="spacy_seq2seq", add_completion=False, no_args_is_help=True)


@app.callback()
def main() -> None:
    """spacy-seq2seq's commands."""


def warn_if_ungrounded(conversation: Conversation) -> None:
    """Say so when the responder can't read the document it is given."""
    if not getattr(conversation.responder, "reads_documents", False):
        msg.warn("The responder was trained without documents: it ignores --document.")


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
    document: Optional[Path] = typer.Option(
        None,
        help="A UTF-8 text file the chat is about: a grounded responder reads "
        "it beside the conversation",
    ),
) -> None:
    """Chat with a trained responder: a message per line on stdin, a reply
    per line on stdout, until end of input. "/reset" starts over. Scripted
    input works too (echo "hi" | python -m spacy_seq2seq chat PATH). Input
    that is not UTF-8 is read with replacement characters, and replies are
    printed without control characters or escape sequences.
    """
    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    document_text = None
    if document is not None:
        try:
            document_text = document.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            msg.fail(f"Can't read the document {document}", str(e), exits=1)
    try:
        conversation = Conversation(
            load_pipeline(model),
            max_turns=max_turns,
            component=component,
            document=document_text,
        )
        if document_text is not None:
            warn_if_ungrounded(conversation)
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


@app.command("serve")
def serve(
    model: str = typer.Argument(
        ..., help="A pipeline with a seq2seq component: a directory or package name"
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind"),
    port: int = typer.Option(8000, help="Port to bind"),
    max_batch_size: int = typer.Option(
        LIMITS.max_batch_size, help="Texts decoded in one batch at most"
    ),
    max_queue: int = typer.Option(
        LIMITS.max_queue,
        help="Texts waiting or decoding at once; past it a request gets 503",
    ),
    max_wait_ms: float = typer.Option(
        LIMITS.max_wait_ms,
        help="How long a batch waits for more requests after its first",
    ),
    max_chars: int = typer.Option(LIMITS.max_chars, help="Characters a text may have"),
    component: Optional[str] = typer.Option(
        None, help="The seq2seq component to serve, if the pipeline has several"
    ),
    max_beam_size: int = typer.Option(
        LIMITS.max_beam_size,
        help="Largest beam_size / n_best / candidates a request may ask",
    ),
    max_length: int = typer.Option(
        LIMITS.max_length, help="Largest max_length a request may ask"
    ),
    max_turns: int = typer.Option(LIMITS.max_turns, help="Turns the responder reads"),
    max_conversations: int = typer.Option(
        LIMITS.max_conversations, help="Conversations kept open at once"
    ),
    conversation_max_age: float = typer.Option(
        LIMITS.conversation_max_age_s, help="Seconds an unused conversation is kept"
    ),
    gpu_id: int = typer.Option(-1, help="GPU id, or -1 for the CPU (embedded server)"),
    ray: bool = typer.Option(False, "--ray", help="Deploy on Ray Serve"),
    replicas: int = typer.Option(1, help="Ray Serve: replicas, each with a pipeline"),
    num_gpus_per_replica: float = typer.Option(0.0, help="Ray Serve: GPUs per replica"),
) -> None:
    """Serve a trained pipeline over HTTP: the /v1 API (its OpenAPI page at
    /docs) with dynamic batching, and a chat or summarize page at /.
    """
    needed = ["fastapi", "uvicorn"] + (["ray"] if ray else [])
    missing = [name for name in needed if importlib.util.find_spec(name) is None]
    if missing:
        extra = "ray" if "ray" in missing else "serve"
        msg.fail(
            f"Serving needs {', '.join(missing)}",
            f"pip install 'spacy-seq2seq[{extra}]'",
            exits=1,
        )
    from .serve.server import serve as run_server

    if gpu_id >= 0:
        spacy.require_gpu(gpu_id)
    try:
        limits = Limits(
            max_batch_size=max_batch_size,
            max_queue=max_queue,
            max_wait_ms=max_wait_ms,
            max_chars=max_chars,
            max_beam_size=max_beam_size,
            max_length=max_length,
            max_turns=max_turns,
            max_conversations=max_conversations,
            conversation_max_age_s=conversation_max_age,
        )
        run_server(
            model,
            host=host,
            port=port,
            limits=limits,
            component=component,
            ray=ray,
            replicas=replicas,
            num_gpus_per_replica=num_gpus_per_replica,
        )
    except (OSError, ValueError) as e:
        msg.fail(f"Can't serve '{model}'", str(e), exits=1)


@app.command("apply")
def apply(
    model: str = typer.Argument(
        ..., help="A pipeline with seq2seq components: a directory or package name"
    ),
    input_path: str = typer.Argument(
        ...,
        metavar="INPUT",
        help="JSONL, CSV or Parquet records (with --ray: any path Ray Data reads)",
    ),
    output_path: str = typer.Argument(
        ..., metavar="OUTPUT", help="JSONL or Parquet rows (with --ray: a folder)"
    ),
    text_field: str = typer.Option("text", help="The field holding each record's text"),
    id_field: str = typer.Option("id", help="The field holding each record's id"),
    document_field: Optional[str] = typer.Option(
        None,
        help="The field holding each record's document, which a grounded "
        "responder reads beside the conversation (the text field). A record "
        "without the field is an error row naming its file and line, so that "
        "a misspelled name can't pass for records without documents; null or "
        '"" is a record without a document (the reply reads the conversation '
        "alone)",
    ),
    batch_size: int = typer.Option(64, help="Records per batch"),
    n_process: int = typer.Option(1, help="Worker processes (one machine)"),
    ray: bool = typer.Option(False, "--ray", help="Run on Ray Data (the ray extra)"),
    workers: int = typer.Option(1, help="With --ray: actors, one pipeline each"),
    num_gpus_per_worker: float = typer.Option(0.0, help="With --ray: GPUs per actor"),
    input_format: Optional[str] = typer.Option(
        None, help="With --ray: jsonl, csv or parquet, if the path doesn't say"
    ),
    output_format: Optional[str] = typer.Option(
        None, help="With --ray: jsonl or parquet, if the path doesn't say"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace OUTPUT if it exists (never the input)"
    ),
    resume: bool = typer.Option(
        False,
        "--resume",
        help="Continue a stopped run from the rows in OUTPUT.partial (one machine)",
    ),
) -> None:
    """Write each record's id and generated text(s) to OUTPUT, with an
    "error" column that is null unless the record failed: a record that
    fails or can't be read (not UTF-8, malformed JSON, a CSV row with a
    wrong number of cells...) becomes an error row naming the file and line,
    and the run goes on. The rows go to OUTPUT.partial, renamed to OUTPUT at
    the end; a stopped run continues with --resume. Exit code 0: every
    record has a row (some may be error rows); 1: nothing was run (a bad
    path, an OUTPUT that exists or is the input...); 130: stopped by Ctrl-C,
    the rows so far kept in OUTPUT.partial.
    """
    if not ray:
        try:
            require_pipeline(model)
        except OSError as e:
            msg.fail(str(e), exits=1)
    from .batch.apply import ApplyJob, apply_file

    job = ApplyJob(
        model,
        input_path,
        output_path,
        text_field,
        id_field,
        batch_size,
        document_field=document_field,
    )
    try:
        if ray:
            if resume:
                msg.fail("--resume works for one-machine runs, not with --ray", exits=1)
            from .batch.ray_apply import apply_with_ray

            counts = apply_with_ray(
                job,
                workers=workers,
                num_gpus_per_worker=num_gpus_per_worker,
                input_format=input_format,
                output_format=output_format,
                overwrite=overwrite,
            )
        else:
            if not Path(input_path).is_file():
                msg.fail(f"Can't find the input file '{input_path}'", exits=1)
            counts = apply_file(
                job, n_process=n_process, overwrite=overwrite, resume=resume
            )
    except KeyboardInterrupt:
        if ray:
            msg.warn(f"Stopped: nothing was written to {output_path}.")
        else:
            msg.warn(
                f"Stopped: the rows so far are in {output_path}.partial; run the "
                "same command with --resume to continue."
            )
        sys.exit(130)
    except (ImportError, OSError, ValueError) as e:
        msg.fail(f"Can't apply '{model}' to '{input_path}'", str(e), exits=1)
    resumed = counts.get("resumed")
    msg.good(
        f"Wrote {counts['rows']} rows to {output_path} ({counts['errors']} errors)"
        + (f", {resumed} of them resumed from the partial output" if resumed else "")
    )


@app.command("upgrade")
def upgrade(
    model: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="A pipeline saved by spacy-seq2seq 0.1"
    ),
) -> None:
    """Move the flat decoding settings of a 0.1 pipeline's config.cfg into the
    `decoding` block of 0.2, in place; the weights are unchanged."""
    try:
        changed = upgrade_pipeline(model)
    except ValueError as e:
        msg.fail(f"Can't upgrade '{model}'", str(e), exits=1)
    if changed:
        msg.good(f"Upgraded {', '.join(changed)} in {model / 'config.cfg'}")
    else:
        msg.info(f"{model / 'config.cfg'} is already up to date")
