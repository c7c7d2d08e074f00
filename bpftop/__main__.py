"""The `bpftop` command. Imports bpftop.cli.main inside the try so that Ctrl-C while
the modules load ends quietly, like Ctrl-C anywhere else."""

import signal
import sys


def main() -> int:
    try:
        from bpftop.cli.main import main as cli_main
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
