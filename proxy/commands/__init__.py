"""Admin commands that work on the store directly, with no running proxy (issue 3 §5).

Each module here has `register(commands)`, adding its subcommands to `tooltool-proxy`.
"""
