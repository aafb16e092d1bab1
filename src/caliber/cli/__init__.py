"""The ``caliber`` command line: one module per command group, assembled by ``main``."""
