"""The package's own exceptions. The CLI turns each into a one-line message and a non-zero exit."""


class ModicError(Exception):
    """Base class: something the user can fix (bad input, bad rules, bad options)."""


class InputError(ModicError):
    """An input file cannot be read as asked (missing, unknown format, missing column, duplicates)."""


class RuleError(ModicError):
    """A rule file in patterns/ is malformed: names the file, the entry and what was expected."""


class Interrupted(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so that both stop a command the same way."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
