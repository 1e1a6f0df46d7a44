"""`eos-tui serve [RUN_DIR | SCENARIO]`: the app in a browser, through textual-serve (the `serve` extra).

The server listens on --host:--port (127.0.0.1:8000 by default: only this machine; forward the port
over SSH to watch from elsewhere). Each browser tab that connects gets its own app process, watching
the run (`eos-tui watch`): closing a tab closes only its app. With a SCENARIO, `serve` first starts
the run's engine in the background, as `run --detach` does, and stops it when the server stops
(Ctrl-C), as `q` would: the manifest then says "interrupted".

Every asset of the page (script, style sheet, font) comes from this server (PAGE_TEMPLATES).

The app process is started by textual-serve through a shell: everything in its command line is
quoted (shlex), and it runs as the engine does, without the current directory on sys.path.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from ..engine.launch import engine_env
from ..rundir.reader import is_run_dir, list_runs, safe_text
from ..rundir.session import RunSession
from .errors import CommandError, missing_extra
from .exit import ExitCode

SERVED_CODE = (
    "import sys\nsys.path[:] = [p for p in sys.path if p not in ('', '.')]\n"
    "from eos_tui.cli.serve import served_main\nsys.exit(served_main(sys.argv[1:]))\n"
)
TITLE = "eos-tui"
# The page: textual-serve's own, with its font served from textual-serve's static folder instead of
# an outside font service, so that every asset comes from this server (an SSH tunnel or an offline
# machine reaches nothing else). tests/test_serve_browser.py loads it in Chromium.
PAGE_TEMPLATES = Path(__file__).resolve().parent / "serve_page"


def served_main(argv: Sequence[str]) -> int:
    """The app in one browser tab: `watch` on the run(s), without the terminal check (textual-serve's
    web driver is the terminal here)."""
    from ..app import run_app

    runs = [Path(a) for a in argv]
    return run_app(runs[0], engine=None, runs=runs if len(runs) > 1 else None)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def app_command(run_dirs: Sequence[Path], python: str = sys.executable) -> str:
    return " ".join(shlex.quote(part) for part in (python, "-c", SERVED_CODE, *(str(Path(p).resolve()) for p in run_dirs)))


def _server_class():
    import aiohttp_jinja2
    from textual_serve.server import Server

    class EosServer(Server):
        """textual-serve's server, with the page's URLs taken from the address the browser used (so
        that a port forwarded to another local port still finds the websocket), and one line at start."""

        def __init__(self, *args: Any, announce: str, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.announce = announce

        async def on_startup(self, app: Any) -> None:
            print(self.announce, file=sys.stderr, flush=True)

        @aiohttp_jinja2.template("app_index.html")
        async def handle_index(self, request: Any) -> dict[str, Any]:
            base = f"{request.scheme}://{request.host}"
            ws = ("wss:" if request.scheme == "https" else "ws:") + base.split(":", 1)[1]
            router = request.app.router
            return {
                "font_size": 16,
                "app_websocket_url": ws + str(router["websocket"].url_for()),
                "config": {"static": {"url": base + str(router["static"].url_for(filename="/")).rstrip("/") + "/"}},
                "application": {"name": TITLE},
            }

    return EosServer


def resolve_target(target: str | None) -> tuple[Path, Any]:
    """(run directory, engine or None): an existing run, the newest under runs/, or a scenario to start."""
    if target is None:
        found = list_runs("runs")
        if not found:
            raise CommandError("no runs under runs/: name a RUN_DIR or a SCENARIO to serve")
        return found[0].path, None
    if is_run_dir(target):
        return Path(target), None
    if Path(target).is_dir():
        raise CommandError(f"{safe_text(target)} is not a run directory (no manifest.json); see `eos-tui runs`")
    from ..engine.launch import start_engine
    from ..rundir.prepare import prepare_run
    from ..scenario import ScenarioError, load_scenario
    from ..scenario.checks import preflight
    from ..scenario.code import code_refs

    try:
        sc = load_scenario(target)
        refs = code_refs(sc.arms)
        if refs:  # serve reads runs; it never imports a scenario's code (scenario/code.py)
            raise CommandError(
                f"{sc.source}: names Python code ({refs[0]}), which serve does not run: "
                f"start it with `eos-tui run --trust-code --detach {target}` and serve its run directory"
            )
        preflight(sc)
    except ScenarioError as e:
        raise CommandError(str(e)) from None
    try:
        run_dir = prepare_run(sc)
    except (FileExistsError, OSError, ValueError) as e:
        raise CommandError(str(e)) from None
    return run_dir, start_engine(run_dir)


def check_port(host: str, port: int, url: str) -> None:
    """Bind the address once, as the server will (SO_REUSEADDR, like aiohttp), and let it go: a port
    in use, a privileged port or a host that is not this machine's is one line, before anything starts."""
    import socket

    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as e:
        raise CommandError(f"cannot serve on {url}: {e.strerror or e}", code=ExitCode.FAILED) from None


def serve_command(target: str | None, *, host: str = "127.0.0.1", port: int = 8000) -> int:
    if not 1 <= port <= 65535:
        raise CommandError(f"--port {port}: choose a port between 1 and 65535")
    if not host.strip():
        raise CommandError("--host: empty; 127.0.0.1 serves this machine only")
    try:
        server_class = _server_class()
    except ImportError:
        raise missing_extra("textual-serve", "serve", "eos-tui serve") from None
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    # The app processes run as the engine does: no current directory on sys.path.
    env = engine_env(os.environ)
    os.environ["PYTHONSAFEPATH"] = env["PYTHONSAFEPATH"]
    if "PYTHONPATH" in os.environ:
        if "PYTHONPATH" in env:
            os.environ["PYTHONPATH"] = env["PYTHONPATH"]
        else:
            del os.environ["PYTHONPATH"]
    if not is_loopback(host):
        print(
            f"eos-tui: warning: --host {safe_text(host)} is not this machine only: anyone who can reach {url} can open the app, "
            "see the run, and start app processes here (no password, no encryption)",
            file=sys.stderr,
            flush=True,
        )
    check_port(host, port, url)  # before a scenario's engine starts: a port in use leaves no run behind
    run_dir, engine = resolve_target(target)
    announce = f"eos-tui: serving {safe_text(str(run_dir))} at {url} (Ctrl-C stops)"
    server = server_class(app_command([run_dir]), host=host, port=port, title=TITLE, announce=announce, templates_path=PAGE_TEMPLATES)
    try:
        server.serve()
    except OSError as e:
        raise CommandError(f"cannot serve on {url}: {e.strerror or e}", code=ExitCode.FAILED) from None
    finally:
        if engine is not None:
            from ..engine.launch import engine_alive, stop_engine

            if engine_alive(engine):
                print(f"eos-tui: stopping the engine of {safe_text(str(run_dir))}", file=sys.stderr)
                stop_engine(engine)
            # an engine stopped before it could write its end (still importing torch) would leave
            # the run "running", then "engine lost": write the end for it, as the app does for its own
            RunSession(run_dir).interrupted(stop_reason="serve stopped", finalized_by="app")
    return ExitCode.OK
