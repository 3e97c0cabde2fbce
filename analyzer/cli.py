"""Command line: argv -> library calls -> exit code. Nothing else lives here.

Heavy modules are imported inside commands so `--help` stays fast. Exceptions become exit codes
in `main` only; `--debug` shows the traceback, otherwise never.
"""

from __future__ import annotations

import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from analyzer.errors import AnalyzerError, ExitCode, UsageError

app = typer.Typer(
    name="tls-analyzer",
    help="Passive TLS handshake analyzer: decode every handshake in pcap/pcapng captures.\n\n"
         "Example: tls-analyzer analyze captures/tls13.pcap",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    pretty_exceptions_show_locals=False,  # locals may hold key material or packet bytes
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


class Format(str, Enum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Depth(str, Enum):
    tls = "tls"
    tcp = "tcp"


CaptureArgs = Annotated[list[str], typer.Argument(help="pcap/pcapng files (gzip ok), or - for stdin",
                                                  metavar="CAPTURE...")]
ConnOpt = Annotated[Optional[list[int]], typer.Option("--conn", help="only connection ID (repeatable)")]
SniOpt = Annotated[Optional[str], typer.Option("--sni", help="only connections whose SNI matches GLOB")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="only connections with this IP at either end")]
PortOpt = Annotated[Optional[int], typer.Option("--port", help="only connections with this port at either end")]


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False) -> None:
    _state["debug"] = debug


@app.command(epilog="Examples:\n\n  tls-analyzer analyze captures/tls13.pcap\n\n"
                    "  tls-analyzer analyze captures/*.pcap --format json --output report.json\n\n"
                    "  tls-analyzer analyze big.pcap --depth tcp   (TCP reassembly only)")
def analyze(
    captures: CaptureArgs,
    format: Annotated[Format, typer.Option("--format", "-f", help="output format")] = Format.table,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here instead of stdout")] = None,
    depth: Annotated[Depth, typer.Option("--depth", help="tcp: stop after TCP reassembly")] = Depth.tls,
    conn: ConnOpt = None, sni: SniOpt = None, host: HostOpt = None, port: PortOpt = None,
) -> None:
    """Decode every TLS handshake in the captures: one row (or JSON object) per connection."""
    from analyzer.report import Selection, run_analyze

    code = run_analyze(captures, format.value, output, depth.value, Selection(conn, sni, host, port))
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tls-analyzer` and `python cli.py`: returns the process exit code."""
    import click

    try:
        app(args=argv, standalone_mode=False)
        return ExitCode.OK
    except typer.Exit as exc:
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except click.exceptions.UsageError as exc:
        hint = f"see: tls-analyzer {exc.ctx.command_path.split(' ', 1)[1] + ' ' if exc.ctx and ' ' in exc.ctx.command_path else ''}--help"
        print(UsageError(exc.format_message().replace("\n", " "), hint).one_line(), file=sys.stderr)
        return ExitCode.USAGE
    except AnalyzerError as exc:
        if _state["debug"]:
            import traceback
            traceback.print_exc()
        print(exc.one_line(), file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # quiet exit under `| head`
        return ExitCode.OK
    except Exception as exc:  # a bug: one line unless --debug
        if _state["debug"]:
            raise
        print(f"error: internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)",
              file=sys.stderr)
        return ExitCode.USAGE


if __name__ == "__main__":
    sys.exit(main())
