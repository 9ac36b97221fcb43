"""One module per `parbench` subcommand; cli.COMMANDS lists them."""
