"""`make bench`: every benchmark, each printing its figures.

Each module in BENCHES has `main(argv)`; they share one moto started by the first.
"""
import importlib

BENCHES = ("bench.invites",)


def main() -> None:
    for name in BENCHES:
        importlib.import_module(name).main([])


if __name__ == "__main__":
    main()
