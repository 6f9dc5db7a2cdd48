"""The one user-facing error family. The CLI turns these into a message and exit code 1."""


class LabelfixError(Exception):
    """A problem the user can fix; the message names the file (and line) and the fix."""


class DatasetError(LabelfixError):
    """The dataset or its label file cannot be read as given."""


class ConfigError(LabelfixError):
    """An option or config file value is invalid."""


class ModelError(LabelfixError):
    """A backbone or its weights cannot be loaded."""


class ApplyError(LabelfixError):
    """The cleaned dataset cannot be written where or how it was asked."""
