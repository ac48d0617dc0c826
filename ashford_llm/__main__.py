"""Runs the `ashford-llm` command: `python -m ashford_llm`."""

from ashford_llm.cli import main

raise SystemExit(main())
