"""Every subcommand of `tooltool-proxy`, one module per command group (the registry is in proxy/cli.py).

Each group module has `register(subcommands)`, adding its subcommands with their handlers; a
handler returns the exit status and raises `command.CommandError` for a one-line error (status 2).
The admin commands (index, catalog, import, import-legacy, verify, gc, replicate) work on the store
directly with no running proxy, through `admin.run_admin`.
"""
