"""`python -m benchmarks`: run every benchmark and print its ratios."""

from benchmarks import discrete_throughput


def main() -> None:
    print("== discrete sweep throughput (issue 2) ==")
    discrete_throughput.main([])
    from benchmarks import torch_baseline

    print("\n== discrete sweep vs a per-run PyTorch CPU loop (issue 8) ==")
    torch_baseline.main()
    try:
        from benchmarks import slow_vs_discrete
    except ImportError:
        slow_vs_discrete = None
    if slow_vs_discrete is not None:
        print("\n== slow flow vs discrete simulation (issue 3) ==")
        slow_vs_discrete.main()


if __name__ == "__main__":
    main()
