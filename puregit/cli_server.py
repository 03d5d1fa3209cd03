"""Server subcommands: ``puregit daemon``, ``upload-pack``, ``receive-pack``, ``upload-archive``."""

from __future__ import annotations

import argparse
import os
import sys

from .cli import command


def _setup_upload_pack(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stateless-rpc", action="store_true")
    p.add_argument("--advertise-refs", "--http-backend-info-refs", action="store_true",
                   dest="advertise_refs")
    p.add_argument("--strict", action="store_true",
                   help="do not try DIR.git or DIR/.git, only DIR itself")
    p.add_argument("--timeout", type=int, default=0, help="(accepted for git compatibility)")
    p.add_argument("directory")


@command("upload-pack", _setup_upload_pack)
def cmd_upload_pack(args: argparse.Namespace) -> int:
    from .server import serve_command
    from .upload_pack import UploadPackHandler
    return serve_command(UploadPackHandler, ["upload-pack", args.directory],
                         _local_backend(args), stateless_rpc=args.stateless_rpc,
                         advertise_refs=args.advertise_refs)


def _local_backend(args):
    from .server import DirectoryBackend
    return DirectoryBackend(strict=getattr(args, "strict", False))


def _setup_receive_pack(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stateless-rpc", action="store_true")
    p.add_argument("--advertise-refs", "--http-backend-info-refs", action="store_true",
                   dest="advertise_refs")
    p.add_argument("directory")


@command("receive-pack", _setup_receive_pack)
def cmd_receive_pack(args: argparse.Namespace) -> int:
    from .server import ReceivePackHandler, serve_command
    return serve_command(ReceivePackHandler, ["receive-pack", args.directory],
                         _local_backend(args), stateless_rpc=args.stateless_rpc,
                         advertise_refs=args.advertise_refs)


def _setup_upload_archive(p: argparse.ArgumentParser) -> None:
    p.add_argument("directory")


@command("upload-archive", _setup_upload_archive)
def cmd_upload_archive(args: argparse.Namespace) -> int:
    from .server import UploadArchiveHandler, serve_command
    return serve_command(UploadArchiveHandler, ["upload-archive", args.directory],
                         _local_backend(args))


def _setup_daemon(p: argparse.ArgumentParser) -> None:
    p.description = ("Serve the repositories under --base-path over git:// (like git daemon). "
                     "Listens on 127.0.0.1 unless --listen says otherwise (git daemon "
                     "listens on all interfaces; pass --listen 0.0.0.0 for that).")
    p.add_argument("--base-path", default=".", help="folder holding the repositories")
    p.add_argument("--listen", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    p.add_argument("--port", type=int, default=9418)
    p.add_argument("--enable", action="append", default=[],
                   choices=["receive-pack", "upload-archive", "upload-pack"],
                   help="enable a service (receive-pack and upload-archive are off by default)")
    p.add_argument("--disable", action="append", default=[],
                   choices=["receive-pack", "upload-archive", "upload-pack"])
    p.add_argument("--export-all", action="store_true",
                   help="serve repositories without a git-daemon-export-ok file")
    p.add_argument("--max-connections", type=int, default=32, help="0 = unlimited")
    p.add_argument("--timeout", type=float, default=600.0, help="idle seconds per connection")
    p.add_argument("--init-timeout", type=float, default=30.0,
                   help="seconds a client has to send its request")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.add_argument("--port-file", help="write the port actually bound here (useful with --port 0)")
    p.add_argument("--pid-file", help="write the daemon's process id here")
    p.add_argument("--detach", action="store_true",
                   help="go to the background once listening (log lines are dropped)")
    p.add_argument("--strict-paths", action="store_true",
                   help="serve only the exact directories listed (no .git guessing)")
    p.add_argument("--interpolated-path", metavar="TEMPLATE",
                   help="virtual hosting: build each repository's path from TEMPLATE "
                        "(%%H host asked for, %%CH our host name, %%IP, %%P port, "
                        "%%D requested path), e.g. /srv/git/%%H%%D")
    p.add_argument("--inetd", action="store_true",
                   help="serve the one connection on stdin/stdout (run from inetd, xinetd or "
                        "a systemd socket with Accept=yes)")
    p.add_argument("--reuseaddr", action="store_true",
                   help="accepted for git daemon compatibility: addresses are always reused")
    p.add_argument("directory", nargs="*",
                   help="serve only repositories inside these directories (git daemon's "
                        "whitelist)")


@command("daemon", _setup_daemon)
def cmd_daemon(args: argparse.Namespace) -> int:
    import logging  # only the daemon logs; other commands need not import it

    from .backend import FileSystemBackend
    from .server import TCPGitServer
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s [%(process)d] %(message)s", stream=sys.stderr)
    if args.strict_paths and not args.directory:
        print("fatal: option --strict-paths requires a whitelist", file=sys.stderr)
        return 128
    enabled = {"upload-pack"} | set(args.enable)
    enabled -= set(args.disable)
    if args.interpolated_path:
        from .backend import InterpolatedBackend
        backend = InterpolatedBackend(args.interpolated_path, args.base_path,
                                      export_all=args.export_all, whitelist=args.directory,
                                      strict_paths=args.strict_paths,
                                      address=(args.listen, args.port))
    else:
        backend = FileSystemBackend(args.base_path, export_all=args.export_all,
                                    whitelist=args.directory, strict_paths=args.strict_paths)
    if args.inetd:
        if args.detach:
            print("fatal: --inetd is incompatible with --detach", file=sys.stderr)
            return 128
        from .server import serve_inetd
        services = {"git-" + s for s in enabled}
        serve_inetd(backend, {s.encode() for s in services})
        return 0
    server = TCPGitServer(backend, args.listen, args.port,
                          enable_receive_pack="receive-pack" in enabled,
                          enable_upload_archive="upload-archive" in enabled,
                          max_connections=args.max_connections, init_timeout=args.init_timeout,
                          timeout=args.timeout)
    if "upload-pack" not in enabled:
        server.enabled_services.discard(b"git-upload-pack")
    host, port = server.server_address[:2]
    if args.detach:
        _detach()
    for name, value in ((args.port_file, port), (args.pid_file, os.getpid())):
        if name:
            with open(name + ".tmp", "w") as f:
                f.write(f"{value}\n")
            os.replace(name + ".tmp", name)
    logging.getLogger("puregit.server").info("Ready to rumble on %s:%s", host, port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _detach() -> None:
    """Go to the background: the parent exits, the child leaves the terminal's session.

    Called once the socket listens and before any thread starts, so the
    caller has its port and a bind error is still reported in the foreground.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        os._exit(0)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
