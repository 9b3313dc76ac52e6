"""The ``layerwise`` command. Commands live one per module and import heavy libraries lazily,
so ``layerwise --help`` is instant. User errors print one line and exit with code 2."""

from __future__ import annotations

import sys
from typing import Any

import typer

from layerwise.cli import (
    advise,
    chat,
    data,
    demo,
    evaluate,
    explain,
    export,
    generate,
    import_caffe,
    play,
    predict,
    report,
    serve,
    tasks,
    train,
)

app = typer.Typer(
    name="layerwise",
    help="Deep learning on your own data, and an honest word on when classical ML does as well.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("train")(train.train)
app.command("predict")(predict.predict)
app.command("evaluate")(evaluate.evaluate)
app.command("explain")(explain.explain)
app.command("advise")(advise.advise)
app.command("report")(report.report)
app.command("demo")(demo.demo)
app.command("tasks")(tasks.tasks)
app.command("export")(export.export)
app.command("generate")(generate.generate)
app.command("play")(play.play)
app.command("chat")(chat.chat)
app.command("serve")(serve.serve)
app.command("import-caffe")(import_caffe.import_caffe)
app.add_typer(data.app, name="data")


INTERRUPTED = 130  # the shell's code for a process stopped by SIGINT


def _notes_as_lines() -> Any:
    """A warnings.showwarning that prints layerwise's notes as one ``note:`` line each (not a
    file name, line number and source line) and leaves every other warning as it was."""
    import warnings

    from layerwise.errors import LayerwiseWarning

    shown = warnings.showwarning

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, LayerwiseWarning):
            print(f"note: {message}", file=sys.stderr)
        else:
            shown(message, category, filename, lineno, file, line)

    return show


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app, turning user errors into one line and exit code 2, and Ctrl-C
    into one line and exit code 130."""
    import warnings

    from layerwise.errors import LayerwiseError, RunInterrupted

    before = warnings.showwarning
    warnings.showwarning = _notes_as_lines()
    try:
        # Without standalone mode Typer *returns* the exit code of a Ctrl-C (130) instead of
        # exiting with it; dropping it made an interrupted command exit 0.
        from layerwise.cli.common import ARGV

        ARGV[:] = list(sys.argv[1:] if argv is None else argv)  # for train --devices
        code = app(args=argv, standalone_mode=False)
    except RunInterrupted as exc:
        print(exc.line, file=sys.stderr)
        sys.exit(INTERRUPTED)
    except LayerwiseError as exc:
        print(f"error: {exc.one_line()}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted.", file=sys.stderr)
        sys.exit(INTERRUPTED)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors (missing argument, bad option). Typer >= 0.20 vendors click, so its
        # exceptions are not click's: recognise them by what they can do.
        show, code = getattr(exc, "show", None), getattr(exc, "exit_code", None)
        if callable(show) and isinstance(code, int):
            show()
            sys.exit(2 if code in (1, 2) else code)
        if type(exc).__name__ == "Abort":
            sys.exit(1)
        raise
    finally:
        warnings.showwarning = before
    if code == INTERRUPTED:
        print("interrupted.", file=sys.stderr)
    if isinstance(code, int) and code:
        sys.exit(code)


if __name__ == "__main__":
    main()
