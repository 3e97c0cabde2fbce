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
from analyzer.policies import PROFILES
from analyzer.render.sanitize import text

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
    html = "html"


class Severity(str, Enum):
    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


Profile = Enum("Profile", {name.replace("-", "_"): name for name in PROFILES}, type=str)  # type: ignore[misc]


class Depth(str, Enum):
    tls = "tls"
    tcp = "tcp"


CaptureArgs = Annotated[list[str], typer.Argument(help="pcap/pcapng files (gzip ok), folders (searched recursively; "
                                                       "files that are not captures are skipped), or - for stdin",
                                                  metavar="CAPTURE...")]
ConnOpt = Annotated[Optional[list[int]], typer.Option("--conn", help="only connection ID (repeatable)")]
SniOpt = Annotated[Optional[str], typer.Option("--sni", help="only connections whose SNI matches GLOB")]
HostOpt = Annotated[Optional[str], typer.Option("--host", help="only connections with this IP at either end")]
PortOpt = Annotated[Optional[int], typer.Option("--port", help="only connections with this port at either end")]
Ja3Opt = Annotated[Optional[str], typer.Option("--ja3", help="only connections whose JA3 (MD5) is this")]
Ja4Opt = Annotated[Optional[str], typer.Option("--ja4", help="only connections whose JA4 (or JA4_r) is this")]
KeylogOpt = Annotated[Optional[str], typer.Option("--keylog", help="NSS key log (SSLKEYLOGFILE format) to decrypt "
                                                                    "handshakes with; $SSLKEYLOGFILE is used when set")]
ExplainKeylogOpt = Annotated[bool, typer.Option("--explain-keylog", help="after the run, list the key log's client "
                                                                      "randoms no connection used (never a secret)")]

ProfileOpt = Annotated[Optional[Profile], typer.Option("--profile", help="built-in policy the findings follow "
                                                                       "(default: RFC 9325)")]
PolicyOpt = Annotated[Optional[Path], typer.Option("--policy", help="TOML policy file (may extend a profile); "
                                                                   "see `tls-analyzer rules --help`")]
CaBundleOpt = Annotated[Optional[Path], typer.Option("--ca-bundle", help="PEM/DER roots: flag server chains "
                                                                        "that do not verify (CERT-UNTRUSTED)")]
FailOnOpt = Annotated[Optional[Severity], typer.Option("--fail-on", help="exit 1 when a finding reaches this severity")]


def _policy(profile: Profile | None, policy_file: Path | None, ca_bundle: Path | None = None):  # noqa: ANN202
    """The Policy the options describe (None: the default profile, nothing loaded)."""
    if profile is None and policy_file is None and ca_bundle is None:
        return None
    from dataclasses import replace

    from analyzer.analysis.policy_file import load_policy_file, load_profile

    if profile is not None and policy_file is not None:
        raise UsageError("--profile and --policy together", "write `extends = \"<profile>\"` in the policy file")
    policy = load_policy_file(str(policy_file)) if policy_file else load_profile(profile.value if profile else "default")
    if ca_bundle is not None:
        from analyzer.analysis.certinfo import load_ca_bundle

        policy = replace(policy, ca_roots=load_ca_bundle(str(ca_bundle)))
    return policy


def _keys(path: str | None):  # noqa: ANN202
    from analyzer.commands.common import keylog_from_options

    return keylog_from_options(path, lambda text: print(text, file=sys.stderr))


def _inputs(paths: list[str]):  # noqa: ANN202
    """Files, folders and globs to capture paths (`Inputs`); what folders held besides captures
    is said on stderr."""
    from analyzer.errors import InputError
    from analyzer.sources.inputs import expand

    found = expand(paths)
    if found.skipped:
        n = len(found.skipped)
        print(f"skipped {n} file{'' if n == 1 else 's'} that {'is' if n == 1 else 'are'} not captures", file=sys.stderr)
    if not found.captures:
        raise InputError(f"no capture found in {' '.join(paths)}", "give pcap/pcapng files or folders holding them")
    return found


def _version(value: bool) -> None:
    if value:
        from analyzer import __version__, native

        print(f"tls-analyzer {__version__} (hot path: {native.STATUS})")
        raise typer.Exit(ExitCode.OK)


@app.callback()
def _root(debug: Annotated[bool, typer.Option("--debug", help="show tracebacks on errors")] = False,
          version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="print the version and whether the hot path runs compiled")] = False
          ) -> None:
    _state["debug"] = debug


@app.command(epilog="Examples:\n\n  tls-analyzer analyze captures/tls13.pcap\n\n"
                    "  tls-analyzer analyze captures/*.pcap --format json --output report.json\n\n"
                    "  tls-analyzer analyze captures/*.pcap --format html --output report.html\n\n"
                    "  tls-analyzer analyze captures/   (every capture in the folder, recursively)\n\n"
                    "  tls-analyzer analyze big.pcap --depth tcp   (TCP reassembly only)")
def analyze(
    captures: CaptureArgs,
    format: Annotated[Format, typer.Option("--format", "-f", help="output format; json of several captures is "
                                                                  "a JSON array of their documents")] = Format.table,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here instead of stdout (replaced "
                                                                         "only when the run finishes)")] = None,
    depth: Annotated[Depth, typer.Option("--depth", help="tcp: stop after TCP reassembly")] = Depth.tls,
    conn: ConnOpt = None, sni: SniOpt = None, host: HostOpt = None, port: PortOpt = None,
    ja3: Ja3Opt = None, ja4: Ja4Opt = None, keylog: KeylogOpt = None,
    profile: ProfileOpt = None, policy: PolicyOpt = None, ca_bundle: CaBundleOpt = None, fail_on: FailOnOpt = None,
    show_secrets: Annotated[bool, typer.Option("--show-secrets", help="put each connection's key-log secrets "
                                                                     "in JSON output (never shown otherwise)")] = False,
    explain_keylog: ExplainKeylogOpt = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1,
                                                help="processes for --format json on a large capture "
                                                     "(default: one per CPU; 1: never fork)")] = None,
) -> None:
    """Decode every TLS handshake in the captures: one row (or JSON object) per connection."""
    from analyzer.commands.analyze import AnalyzeCommand
    from analyzer.selection import Selection

    paths = _inputs(captures).captures
    code = AnalyzeCommand(paths, format.value, output, depth.value, Selection(conn, sni, host, port, ja3, ja4), jobs,
                          _keys(keylog), show_secrets, fail_on.value if fail_on else None,
                          _policy(profile, policy, ca_bundle), explain_keylog).run()
    raise typer.Exit(code)


class LadderFormat(str, Enum):
    text = "text"
    mermaid = "mermaid"


@app.command(epilog="Examples:\n\n  tls-analyzer ladder captures/tls13-hrr.pcap\n\n"
                    "  tls-analyzer ladder captures/tls12-mtls.pcap --ascii --width 100\n\n"
                    "  tls-analyzer ladder captures/tls13.pcap --format mermaid > ladder.md")
def ladder(
    capture: Annotated[str, typer.Argument(help="pcap/pcapng file (gzip ok), or - for stdin")],
    format: Annotated[LadderFormat, typer.Option("--format", "-f", help="text or a Mermaid diagram")] = LadderFormat.text,
    ascii: Annotated[bool, typer.Option("--ascii", help="plain ASCII arrows, no colour")] = False,
    width: Annotated[Optional[int], typer.Option("--width", min=60, help="columns, at least 60 (default: terminal "
                                                                        "width, 120 when piped)")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here instead of stdout")] = None,
    conn: ConnOpt = None, sni: SniOpt = None, host: HostOpt = None, port: PortOpt = None,
    ja3: Ja3Opt = None, ja4: Ja4Opt = None, keylog: KeylogOpt = None, explain_keylog: ExplainKeylogOpt = False,
    profile: ProfileOpt = None, policy: PolicyOpt = None, ca_bundle: CaBundleOpt = None,
) -> None:
    """Show each connection's handshake as a message ladder (one row per message), findings marked."""
    from analyzer.commands.ladder import run_ladder
    from analyzer.selection import Selection

    raise typer.Exit(run_ladder(capture, format.value, ascii, width, output,
                                Selection(conn, sni, host, port, ja3, ja4), _keys(keylog),
                                _policy(profile, policy, ca_bundle), explain_keylog))


class FingerprintFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command(epilog="Examples:\n\n  tls-analyzer fingerprints captures/*.pcap\n\n"
                    "  tls-analyzer fingerprints big.pcapng --format json | jq '.[0]'")
def fingerprints(
    captures: CaptureArgs,
    format: Annotated[FingerprintFormat, typer.Option("--format", "-f", help="output format")] = FingerprintFormat.table,
) -> None:
    """Distinct client fingerprints (JA4, JA3) with how many connections, which SNIs and clients."""
    from analyzer.commands.fingerprints import run_fingerprints

    raise typer.Exit(run_fingerprints(_inputs(captures).captures, format.value))


@app.command(epilog="Examples:\n\n  tls-analyzer check captures/\n\n"
                    "  tls-analyzer check my-fixtures/ --update   (accept the current output as golden)")
def check(
    folder: Annotated[Path, typer.Argument(help="folder of captures with expected/<capture>.json goldens")],
    update: Annotated[bool, typer.Option("--update", help="(re)write the golden files and exit 0")] = False,
    keylog: KeylogOpt = None,
    profile: ProfileOpt = None, policy: PolicyOpt = None, ca_bundle: CaBundleOpt = None, fail_on: FailOnOpt = None,
) -> None:
    """Regression test: compare each capture's JSON with its golden file; exit 1 on any difference
    (or, with --fail-on, on a finding that reaches the severity)."""
    from analyzer.commands.check import run_check

    raise typer.Exit(run_check(folder, update, _keys(keylog), _policy(profile, policy, ca_bundle),
                               fail_on.value if fail_on else None))


@app.command(epilog="Examples:\n\n  tls-analyzer batch captures/ --out tls-dataset\n\n"
                    "  tls-analyzer batch '/archive/**/*.pcap.gz' --out ds --scheduler tcp://10.0.0.5:8786\n\n"
                    "  duckdb -c \"SELECT version_name, count(*) FROM 'tls-dataset/connections/*.parquet' GROUP BY 1\"\n\n"
                    "Needs: pip install 'tls-analyzer[batch]'")
def batch(
    inputs: Annotated[list[str], typer.Argument(help="capture files, folders (searched recursively) or globs",
                                                metavar="INPUT...")],
    out: Annotated[Path, typer.Option("--out", "-o", help="folder of the Parquet tables (created; a second run "
                                                          "adds only what is new)")],
    scheduler: Annotated[Optional[str], typer.Option("--scheduler", help="tcp://HOST:PORT of a Dask cluster, or "
                                                     "local (a LocalCluster with its dashboard); default: a pool "
                                                     "on every core")] = None,
    workers: Annotated[Optional[int], typer.Option("--workers", min=1, help="processes of the local pool "
                                                                           "(default: one per core)")] = None,
    keylog: KeylogOpt = None, profile: ProfileOpt = None, policy: PolicyOpt = None, ca_bundle: CaBundleOpt = None,
) -> None:
    """Analyse many captures in parallel (Dask) into Parquet tables: connections, findings,
    certificates, captures, errors. One task per capture; resumable."""
    from analyzer.batch.driver import run_batch  # says how to install dask and pyarrow when they are missing

    sources = {"keylog": keylog or os.environ.get("SSLKEYLOGFILE") or None, "profile": profile.value if profile else None,
               "policy": str(policy) if policy else None, "ca_bundle": str(ca_bundle) if ca_bundle else None}
    raise typer.Exit(run_batch(inputs, str(out), scheduler, workers, _keys(keylog), _policy(profile, policy, ca_bundle),
                               sources))


@app.command(epilog="Examples:\n\n  tls-analyzer rules\n\n  tls-analyzer rules --profile mozilla-intermediate\n\n"
                    "  tls-analyzer rules --policy my-policy.toml\n\n"
                    "\b\nA policy file (TOML; see README):\n"
                    "  extends = \"mozilla-intermediate\"\n"
                    "  disable = [\"KX-NO-PQ\"]\n"
                    "  [severity]\n"
                    "  SUITE-CBC = \"medium\"\n"
                    "  [allow]        # versions, cipher_suites, groups, certificate_types\n"
                    "  versions = [\"TLSv1.2\", \"TLSv1.3\"]\n"
                    "  [thresholds]   # min_dh_bits, min_rsa_bits, min_ec_bits,\n"
                    "  min_dh_bits = 3072   # max_certificate_lifetime_days, expiring_soon_days")
def rules(profile: ProfileOpt = None, policy: PolicyOpt = None) -> None:
    """List every rule: id, severity under the profile/policy (off if disabled), source, what it flags."""
    from tabulate import tabulate

    from analyzer.analysis.rulebook import rules_table

    rows = rules_table(_policy(profile, policy))
    print(tabulate([[r["id"], r["severity"], r["source"], r["explanation"]] for r in rows],
                   headers=["id", "severity", "source", "explanation"]))


class LiveFormat(str, Enum):
    table = "table"
    jsonl = "jsonl"
    ladder = "ladder"


@app.command(epilog="Examples (as root):\n\n  tls-analyzer live -i lo --bpf 'tcp port 4433'\n\n"
                    "  tls-analyzer live -i eth0 --format jsonl --duration 60 --write lab.pcapng")
def live(
    interface: Annotated[str, typer.Option("--interface", "-i", help="interface to sniff, e.g. lo or eth0")],
    bpf: Annotated[Optional[str], typer.Option("--bpf", help="capture filter (tcpdump syntax)")] = None,
    count: Annotated[Optional[int], typer.Option("--count", min=1, help="stop after N packets")] = None,
    duration: Annotated[Optional[float], typer.Option("--duration", min=0.0, help="stop after SECONDS")] = None,
    format: Annotated[LiveFormat, typer.Option("--format", "-f", help="table, jsonl (flushed per line) or ladder")] = LiveFormat.table,
    write: Annotated[Optional[Path], typer.Option("--write", help="also save what was captured as pcapng")] = None,
    snaplen: Annotated[int, typer.Option("--snaplen", min=64, help="bytes kept per packet")] = 262144,
    idle_timeout: Annotated[float, typer.Option("--idle-timeout", min=0.1, help="report a silent connection after SECONDS")] = 30.0,
    conn: ConnOpt = None, sni: SniOpt = None, host: HostOpt = None, port: PortOpt = None,
    keylog: KeylogOpt = None,
    profile: ProfileOpt = None, policy: PolicyOpt = None, ca_bundle: CaBundleOpt = None, fail_on: FailOnOpt = None,
) -> None:
    """Watch handshakes live: each connection is printed when its handshake completes, fails or goes idle."""
    from analyzer.commands.live import run_live
    from analyzer.selection import Selection

    raise typer.Exit(run_live(interface, bpf, count, duration, format.value, write, snaplen, idle_timeout,
                              Selection(conn, sni, host, port), _keys(keylog), _policy(profile, policy, ca_bundle),
                              fail_on.value if fail_on else None))


@app.command(epilog="Examples:\n\n  tls-analyzer crosscheck captures/tls13-hrr.pcap\n\n"
                    "  tls-analyzer crosscheck my.pcapng --decode-as 2525=smtp")
def crosscheck(
    capture: Annotated[str, typer.Argument(help="pcap/pcapng file")],
    decode_as: Annotated[Optional[list[str]], typer.Option("--decode-as", help="PORT=PROTO passed to tshark (repeatable)")] = None,
) -> None:
    """Compare our decode with Wireshark's (tshark via pyshark), message by message. Exit 1 on any difference."""
    from analyzer.crosscheck import crosscheck as run
    from analyzer.render.sanitize import text
    from analyzer.wording import plural

    extra = {}
    for item in decode_as or []:
        port, _, proto = item.partition("=")
        if not port.isdigit() or not proto:
            raise UsageError(f"--decode-as {item!r} is not PORT=PROTO", "e.g. --decode-as 2525=smtp")
        extra[int(port)] = proto
    result = run(capture, extra)
    for line in result.differences:
        print(text(line))
    told = ", ".join(f"{p}={proto}" for p, proto in sorted(result.decode_as.items())) or "none"
    print(f"{result.agree}/{result.messages} Wireshark handshake messages agree; "
          f"{plural(len(result.differences), 'difference')} (decode-as: {told})")
    raise typer.Exit(ExitCode.OK if result.equal else ExitCode.FINDINGS)


class SummaryFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    html = "html"  # the summary, then every connection, in one HTML report


@app.command(epilog="Examples:\n\n  tls-analyzer summary captures/\n\n"
                    "  tls-analyzer summary day1/ day2/ --format json | jq .pq\n\n"
                    "  tls-analyzer summary big.pcapng --top 50 --format csv --output summary.csv")
def summary(
    captures: CaptureArgs,
    format: Annotated[SummaryFormat, typer.Option("--format", "-f", help="output format")] = SummaryFormat.table,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="write here instead of stdout")] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="rows of each long list (SNI, suites, servers, "
                                                            "clients, ...); 0: all")] = 10,
    conn: ConnOpt = None, sni: SniOpt = None, host: HostOpt = None, port: PortOpt = None,
    ja3: Ja3Opt = None, ja4: Ja4Opt = None, keylog: KeylogOpt = None,
    profile: ProfileOpt = None, policy: PolicyOpt = None, ca_bundle: CaBundleOpt = None, fail_on: FailOnOpt = None,
) -> None:
    """Many connections at a glance: versions, suites, groups, SNIs, certificates, findings, a
    post-quantum inventory, per server and per client fingerprint."""
    from analyzer.commands.summary import run_summary
    from analyzer.selection import Selection

    found = _inputs(captures)
    raise typer.Exit(run_summary(found.captures, len(found.skipped), format.value, output, top, Selection(conn, sni, host, port, ja3, ja4),
                                 _keys(keylog), _policy(profile, policy, ca_bundle), fail_on.value if fail_on else None))


def _click_exceptions():  # noqa: ANN202
    """click's exception classes as typer raises them: recent typer vendors click as typer._click."""
    try:
        from typer._click import exceptions
    except ImportError:  # typer built on the click package
        from click import exceptions
    return exceptions


def main(argv: list[str] | None = None) -> int:
    """Entry point of `tls-analyzer` and `python cli.py`: returns the process exit code."""
    click = _click_exceptions()
    try:
        rc = app(args=argv, prog_name="tls-analyzer", standalone_mode=False)  # click returns Exit codes in this mode
        return rc if isinstance(rc, int) else ExitCode.OK
    except (typer.Exit, getattr(click, "Exit", typer.Exit)) as exc:
        return exc.exit_code
    except (typer.Abort, getattr(click, "Abort", typer.Abort)):
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except getattr(click, "NoArgsIsHelpError", ()) as exc:  # bare `tls-analyzer`: the help, as it is
        exc.show()
        return ExitCode.USAGE
    except click.UsageError as exc:
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
    except Exception as exc:  # a bug: one line and its own exit code; the traceback with --debug
        if _state["debug"]:
            import traceback
            traceback.print_exc()
        first = text((str(exc).splitlines() or [""])[0])[:200]
        print(f"error: internal error: {type(exc).__name__}: {first} (please report it, with the output of "
              "the same command run with --debug: tls-analyzer --debug ...)", file=sys.stderr)
        return ExitCode.INTERNAL


def run() -> None:
    """The process entry (`tls-analyzer`, `python cli.py`): main(), then exit without tearing the
    heap down object by object. After a large capture that teardown (a last garbage collection
    over millions of cached objects) costs a few percent of the run for nothing: every file is
    closed by then, so only the standard streams need flushing."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that went away, or a stream already closed
            pass
    os._exit(int(code))


if __name__ == "__main__":
    run()
