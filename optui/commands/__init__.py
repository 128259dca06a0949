"""One module per `optui` subcommand: its arguments, and the function that runs it.

Modules here import heavy libraries (pyarrow, lmdb) inside `run`, so building the parser
stays fast for every command.
"""
