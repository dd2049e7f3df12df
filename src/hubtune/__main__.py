"""``python -m hubtune`` (and ``accelerate launch -m hubtune``)."""

from hubtune.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
