"""`invariance-lab probes`: list the registered probes."""

from __future__ import annotations


def register(sub) -> None:
    pr = sub.add_parser("probes", help="list registered probes")
    pr.add_argument("pattern", nargs="?", default="*")
    pr.set_defaults(func=run)


def run(args) -> int:
    from ..probes import list_probes

    print("\n".join(list_probes(args.pattern)))
    return 0
