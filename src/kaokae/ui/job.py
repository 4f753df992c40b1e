"""One job's process: `python -m kaokae.ui.job RC_FILE -- COMMAND ARGS...` runs the CLI's own entry point
(`kaokae.cli.main`, so errors are its one-line messages and Ctrl-C/SIGINT its clean stop) and then writes the exit
code to RC_FILE atomically, so a UI started later still learns how the job ended."""

import os
import sys
import traceback


def main() -> int:
    rc_file, separator, *argv = sys.argv[1:]
    assert separator == "--", "usage: python -m kaokae.ui.job RC_FILE -- COMMAND ARGS..."
    from kaokae.cli import main as kaokae_main

    try:
        rc = kaokae_main(argv)
    except SystemExit as e:  # argparse's errors
        rc = e.code if isinstance(e.code, int) else 2
    except KeyboardInterrupt:  # a second SIGINT while the command was already stopping
        print("kaokae: interrupted", file=sys.stderr)
        rc = 130
    except BaseException:  # a bug: the traceback goes to the job's log, the page shows one line
        traceback.print_exc()
        print("kaokae: error: the job stopped on an unexpected error (its log has the details)", file=sys.stderr)
        rc = 3
    temp = f"{rc_file}.tmp"
    with open(temp, "w") as f:
        f.write(f"{rc}\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temp, rc_file)
    return rc


if __name__ == "__main__":
    sys.exit(main())
