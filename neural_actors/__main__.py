"""``python -m neural_actors``: the ``neural-actors`` command line."""

from neural_actors.cli import main

main(prog_name="neural-actors")
